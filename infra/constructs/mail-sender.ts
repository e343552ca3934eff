import { Annotations, CfnOutput, Duration, Stack, Validations } from 'aws-cdk-lib'
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch'
import * as iam from 'aws-cdk-lib/aws-iam'
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations'
import type * as logs from 'aws-cdk-lib/aws-logs'
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager'
import * as sqs from 'aws-cdk-lib/aws-sqs'
import type { Construct } from 'constructs'
import type { MailSettings } from '#infra/settings'
import { type AuthFunction, bindSecret, declaredFunction } from './auth-function.ts'
import { StackPart } from './stack-part.ts'

export interface MailSenderProps {
  readonly mail: MailSettings
  readonly databaseSecret: secretsmanager.ISecret
  /** The reset link's lifetime, when context sets it: the mail states it, and the token is issued with it. */
  readonly passwordResetTtlSeconds?: number | undefined
  readonly secretsGeneration: string
  readonly logRetention: logs.RetentionDays
}

/**
 * `send-mail`, which sends the mail of one job, invoked asynchronously by the functions that queue mail
 * (`allowQueuing`). Lambda retries a failed invocation twice (about one, then two minutes later), then hands the event
 * (the job id, nothing secret) to the MailFailures queue; an alarm watches that queue, another the function's errors.
 * It reads the database secret (the job, the user's address, the reset link's hash) and may send through SES as the
 * sender alone.
 */
export class MailSender extends StackPart {
  readonly sender: AuthFunction
  readonly failures: sqs.Queue
  /** A job in MailFailures, and send-mail failing; the stack's monitoring sends them to the alarm topic. */
  readonly alarms: readonly cloudwatch.Alarm[]
  /** The deletion page, when deletion links are mailed: the functions that queue mail are told, so a request knows. */
  private readonly accountDeletionUrl: string | undefined

  constructor(scope: Construct, id: string, props: MailSenderProps) {
    super(scope, id)
    const { mail } = props
    if (/^http:/i.test(mail.passwordResetUrl))
      Annotations.of(Stack.of(this)).addWarningV2(
        'papa-auth:reset-url-http',
        'context passwordResetUrl is http: every reset link, token included, travels unencrypted. Use https outside local development.',
      )
    if (mail.accountDeletionUrl !== undefined && /^http:/i.test(mail.accountDeletionUrl))
      Annotations.of(Stack.of(this)).addWarningV2(
        'papa-auth:deletion-url-http',
        'context accountDeletionUrl is http: every deletion link, token included, travels unencrypted. Use https outside local development.',
      )
    this.accountDeletionUrl = mail.accountDeletionUrl

    this.sender = declaredFunction(this, 'send-mail', {
      logRetention: props.logRetention,
      environment: {
        MAIL_FROM: mail.from,
        PASSWORD_RESET_URL: mail.passwordResetUrl,
        ...(mail.accountDeletionUrl === undefined ? {} : { ACCOUNT_DELETION_URL: mail.accountDeletionUrl }),
        PRODUCT_NAME: mail.productName,
        SECRETS_GENERATION: props.secretsGeneration,
        // The link's lifetime, which the mail states and the token is issued with; the API functions get it too.
        ...(props.passwordResetTtlSeconds === undefined
          ? {}
          : { PASSWORD_RESET_TTL_SECONDS: String(props.passwordResetTtlSeconds) }),
      },
    })
    const fn = this.sender.function
    bindSecret(this.sender, props.databaseSecret, 'DATABASE_SECRET_ARN')
    // nodemailer's SES transport calls SES API v2 SendEmail with Raw content. What the AWS docs say (SES developer
    // guide, "Identity and access management in Amazon SES"): the sending actions are ses:SendEmail and
    // ses:SendRawEmail, a policy that allows only those may scope Resource to the identity ARNs the user may send as,
    // and ses:FromAddress conditions the "From" address. They do not say which action a v2 SendEmail with Raw content
    // is checked as; its AccessDenied names ses:SendRawEmail (as users of the v2 API report, e.g. django-anymail's
    // docs), a Simple one's ses:SendEmail. Hence both, on the one identity, for the one sender address. The call names
    // no configuration set, contact list or template, so no other SES resource is needed.
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ses:SendEmail', 'ses:SendRawEmail'],
        resources: [
          Stack.of(this).formatArn({ service: 'ses', resource: 'identity', resourceName: mail.sesIdentity }),
        ],
        conditions: { StringEquals: { 'ses:FromAddress': mail.fromAddress } },
      }),
    )

    // The failure destination: the record of each event that failed every attempt (the job id, the last error).
    // Jobs stay in mail_outbox too (settled_at null), so the queue is the alert, not the only copy.
    this.failures = new sqs.Queue(this, 'MailFailures', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    })
    Validations.of(this.failures).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        "This queue is itself the failure destination of send-mail's asynchronous invocations (Lambda's on-failure destination, which cdk-nag does not recognise as a DLQ): nothing consumes it, an operator reads and redrives it (docs/deploying.md), so a dead-letter queue of its own would never receive anything.",
    })
    fn.configureAsyncInvoke({
      retryAttempts: 2,
      // Both retries come within minutes; an event Lambda could not run for an hour (throttled, SES or the database
      // down) goes to MailFailures then rather than after the default six hours: a reset link is valid 30 minutes
      // by default, so a later mail would only say it expired, and the alarm should fire while the user still waits.
      maxEventAge: Duration.hours(1),
      onFailure: new SqsDestination(this.failures),
    })

    const queued = new cloudwatch.Alarm(this, 'MailFailuresAlarm', {
      alarmDescription:
        'papa-auth: a mail job failed every attempt and is in the MailFailures queue; redrive it (docs/deploying.md, Mail)',
      metric: this.failures.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      // SQS stops sending a queue's metrics after hours without activity: no data is an empty queue.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    })
    const failing = new cloudwatch.Alarm(this, 'SendMailErrorsAlarm', {
      alarmDescription:
        'papa-auth: send-mail failed (SES refused or unreachable, or the database); Lambda retries it twice, then MailFailures',
      metric: fn.metricErrors({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      // Lambda sends Errors only for a period with invocations: no data is no mail sent, and none failed.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    })
    this.alarms = [queued, failing]

    new CfnOutput(this, 'MailFailuresQueueUrl', {
      description: 'The mail jobs that failed every attempt, to read and redrive (docs/deploying.md, Mail)',
      value: this.failures.queueUrl,
    })
    new CfnOutput(this, 'SendMailFunctionName', {
      description: 'The mail sender: its log, and the function a failed job is redriven to',
      value: fn.functionName,
    })
  }

  /**
   * Lets a function that queues mail hand its jobs to the sender: the sender's name in `MAILER_FUNCTION_NAME` (and the
   * deletion page in `ACCOUNT_DELETION_URL`, so a deletion-link request knows whether a link can be mailed), and
   * leave to invoke the unqualified function, which is what it invokes (`grantInvoke` would add `<arn>:*`, every
   * version and alias).
   */
  allowQueuing(queuer: AuthFunction): void {
    queuer.function.addEnvironment('MAILER_FUNCTION_NAME', this.sender.function.functionName)
    if (this.accountDeletionUrl !== undefined)
      queuer.function.addEnvironment('ACCOUNT_DELETION_URL', this.accountDeletionUrl)
    queuer.function.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [this.sender.function.functionArn],
      }),
    )
  }
}
