import {
  Arn,
  ArnFormat,
  Aws,
  CfnOutput,
  CfnRule,
  Duration,
  Fn,
  RemovalPolicy,
  Stack,
  Token,
} from 'aws-cdk-lib'
import type * as events from 'aws-cdk-lib/aws-events'
import * as iam from 'aws-cdk-lib/aws-iam'
import * as kms from 'aws-cdk-lib/aws-kms'
import * as sns from 'aws-cdk-lib/aws-sns'
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions'
import type { Construct } from 'constructs'
import type { AlarmSettings } from '#infra/settings'
import { StackPart } from './stack-part.ts'

/** The service principals that publish alarms and events to a topic: CloudWatch's alarms, EventBridge's rules. */
const CLOUDWATCH = 'cloudwatch.amazonaws.com'
const EVENTBRIDGE = 'events.amazonaws.com'

export interface AlarmTopicProps {
  readonly settings: AlarmSettings
}

/**
 * Where every alarm goes (`alarmEmail`, `alarmTopicArn`): an SNS topic the stack creates, the address subscribed when
 * one is given, or the operator's own topic, which the stack only publishes to. Its ARN is the `AlarmTopicArn` output.
 *
 * The topic the stack creates is encrypted with a key of its own and refuses any request without TLS. SNS's
 * AWS-managed key (`alias/aws/sns`) cannot serve: CloudWatch and EventBridge publish as their service principals, and
 * that key's policy, which no one can change, lets neither use it. Nothing in an alarm is secret (names, thresholds,
 * a secret's ARN), so the key is what the compliance checks ask for (cdk-nag SNS2, Security Hub SNS.1, AWS Config
 * sns-encrypted-kms), at about a dollar a month, rather than an exception each of them must be told about; who may
 * publish is the topic policy's to say.
 */
export class AlarmTopic extends StackPart {
  readonly topic: sns.ITopic
  /** The topic the stack created; none when it publishes to the operator's. */
  private readonly created: sns.Topic | undefined

  constructor(scope: Construct, id: string, props: AlarmTopicProps) {
    super(scope, id)
    const { settings } = props
    if (settings.topic === 'existing') {
      checkRegion(this, settings.topicArn)
      this.topic = sns.Topic.fromTopicArn(this, 'AlarmTopic', settings.topicArn)
    } else {
      const stack = Stack.of(this)
      const key = new kms.Key(this, 'AlarmTopicKey', {
        description: `${stack.stackName}: encrypts the messages of the alarm topic`,
        enableKeyRotation: true,
        // It encrypts messages SNS keeps only until they are delivered: nothing is left for it to decrypt once the
        // topic is gone.
        removalPolicy: RemovalPolicy.DESTROY,
        pendingWindow: Duration.days(7),
      })
      // SNS encrypts what a service principal publishes with that principal's use of the key. No condition: a key
      // condition the service's call does not carry (EventBridge's carries no aws:SourceArn) drops every message
      // without a word. The key serves this topic alone, and the topic policy below decides who may publish.
      key.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'AlarmsAndEventsPublishEncrypted',
          principals: [new iam.ServicePrincipal(CLOUDWATCH), new iam.ServicePrincipal(EVENTBRIDGE)],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          resources: ['*'],
        }),
      )
      const topic = new sns.Topic(this, 'AlarmTopic', {
        displayName: `${stack.stackName} alarms`,
        masterKey: key,
        enforceSSL: true,
      })
      // The alarms of this account and region only (a confused deputy elsewhere cannot use CloudWatch to page you).
      topic.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'AlarmsOfThisAccountPublish',
          principals: [new iam.ServicePrincipal(CLOUDWATCH)],
          actions: ['sns:Publish'],
          resources: [topic.topicArn],
          conditions: {
            StringEquals: { 'aws:SourceAccount': stack.account },
            ArnLike: {
              'aws:SourceArn': stack.formatArn({
                service: 'cloudwatch',
                resource: 'alarm',
                resourceName: '*',
                arnFormat: ArnFormat.COLON_RESOURCE_NAME,
              }),
            },
          },
        }),
      )
      if (settings.email !== undefined)
        topic.addSubscription(new subscriptions.EmailSubscription(settings.email))
      this.topic = topic
      this.created = topic
    }

    new CfnOutput(this, 'AlarmTopicArn', {
      description:
        settings.topic === 'existing'
          ? 'The topic every alarm is sent to (context alarmTopicArn)'
          : 'The topic every alarm is sent to: subscribe to it, or confirm the subscription SNS mailed to alarmEmail (docs/deploying.md, Alarms and where they go)',
      value: this.topic.topicArn,
    })
  }

  /**
   * Lets an EventBridge rule publish to the topic the stack created, that rule alone. The operator's own topic must
   * allow it itself (docs/deploying.md, Alarms and where they go).
   */
  allowRule(rule: events.IRule): void {
    this.created?.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'RuleOfThisStackPublishes',
        principals: [new iam.ServicePrincipal(EVENTBRIDGE)],
        actions: ['sns:Publish'],
        resources: [this.created.topicArn],
        conditions: { ArnEquals: { 'aws:SourceArn': rule.ruleArn } },
      }),
    )
  }
}

/**
 * CloudWatch and EventBridge deliver within their own region only, so the operator's topic must be in the stack's: at
 * synth when the stack is bound to a region; otherwise by a template rule, which CloudFormation checks when the
 * deploy starts, before it creates anything.
 */
function checkRegion(scope: Construct, topicArn: string): void {
  const region = Arn.split(topicArn, ArnFormat.NO_RESOURCE_NAME).region
  const stack = Stack.of(scope)
  const message = `context alarmTopicArn names a topic in ${region}: CloudWatch alarms and EventBridge rules publish only to a topic in their own region`
  if (!Token.isUnresolved(stack.region)) {
    if (region !== stack.region) throw new Error(`${message}, and the stack's is ${stack.region}`)
    return
  }
  new CfnRule(stack, 'AlarmTopicInTheStackRegion', {
    assertions: [{ assert: Fn.conditionEquals(region, Aws.REGION), assertDescription: `${message}.` }],
  })
}
