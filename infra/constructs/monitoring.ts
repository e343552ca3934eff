import { CfnOutput, Duration, Stack } from 'aws-cdk-lib'
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch'
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions'
import * as events from 'aws-cdk-lib/aws-events'
import * as lambda from 'aws-cdk-lib/aws-lambda'
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager'
import type { Construct } from 'constructs'
import { type FunctionName, type Route, routes } from '#functions/routes'
import { COUNTS, type CountedMetric, METRICS_NAMESPACE } from '#shared/http/metrics'
import type { AlarmTopic } from './alarm-topic.ts'
import { type AuthFunction, functionId } from './auth-function.ts'
import { type AuthApi, PROVISIONED_FUNCTIONS } from './http-api.ts'
import type { MailSender } from './mail-sender.ts'
import { StackPart } from './stack-part.ts'

/**
 * How much each alarm waits for before it tells anyone (docs/deploying.md, Alarms and where they go): enough to be sure
 * something is wrong, not one request's bad luck at 3 a.m.
 */
export const ALARM_THRESHOLDS = {
  /**
   * The API's 5xx as a share of its requests in five minutes, once at least `minErrors` requests failed. A floor on
   * the failures, not on the requests: one failure in two requests at night stays quiet, and a total outage at night
   * (every one of a few requests failing) still pages.
   */
  serverErrors: { percent: 5, minErrors: 5 },
  /**
   * p99 of a route's latency as API Gateway measures it (what the caller waits: cold starts, Neon waking and bcrypt
   * included), above the threshold in two of three five-minute periods that each had at least `minRequests`: fewer,
   * and the 99th percentile is a single cold start's. A login is bcrypt at cost 12 (~0.25 s on a full vCPU), plus
   * ~1 s cold with Neon waking; `/users/me` one statement, ~1 s at worst cold.
   */
  latency: { loginMs: 3000, meMs: 1500, minRequests: 50, periods: 3, breaching: 2 },
  /** The cleanup failing in each of three hours in a row: one failed run is retried, and the next continues it. */
  cleanupHours: 3,
} as const

/** The five minutes most alarms judge, and the dashboard's graphs show. */
const PERIOD = Duration.minutes(5)

export interface MonitoringProps {
  readonly topic: AlarmTopic
  readonly api: AuthApi
  readonly migrate: AuthFunction
  readonly cleanup: AuthFunction
  readonly signingKeys: { readonly secret: secretsmanager.ISecret; readonly rotation: AuthFunction }
  /** The mail sender, when the stack sends mail. */
  readonly mail?: Pick<MailSender, 'sender' | 'failures'> | undefined
  /** The alarms the stack's parts made (the admin routes', the mail sender's), sent to the topic like these. */
  readonly alarms: readonly cloudwatch.Alarm[]
}

/**
 * Alarms on what matters, each sent to the alarm topic when it goes off and when it recovers, a failed rotation of the
 * signing keys sent there by an EventBridge rule, and one dashboard of the same with the service's own counts. Every
 * alarm's description says what it means; docs/deploying.md says what to do.
 */
export class Monitoring extends StackPart {
  /** Every alarm of the stack, the parts' included: each notifies the topic. */
  readonly alarms: readonly cloudwatch.Alarm[]
  readonly rotationFailed: events.Rule
  readonly dashboard: cloudwatch.Dashboard

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id)
    const { api } = props
    const stackName = Stack.of(this).stackName
    const made: cloudwatch.Alarm[] = []
    const alarm = (alarmId: string, alarmProps: cloudwatch.AlarmProps) => {
      const created = new cloudwatch.Alarm(this, alarmId, alarmProps)
      made.push(created)
      return created
    }
    const fn = (name: FunctionName) => {
      const found = api.functions.get(name)
      if (!found) throw new Error(`the API has no function ${name}`)
      return found
    }

    // The API's 5xx rate: the stage's metrics, which API Gateway sends for every API without detailed metrics.
    const { percent, minErrors } = ALARM_THRESHOLDS.serverErrors
    const serverErrorRate = alarm('ApiServerErrorRateAlarm', {
      alarmDescription: `papa-auth: more than ${percent} % of the API's requests answered 5xx in five minutes (at least ${minErrors} of them): read the access log's status and integrationError, then the failing function's log (docs/deploying.md, Alarms and where they go)`,
      metric: new cloudwatch.MathExpression({
        expression: `IF(FILL(errors, 0) >= ${minErrors}, 100 * FILL(errors, 0) / FILL(requests, 1), 0)`,
        usingMetrics: {
          errors: api.stage.metricServerError({ statistic: cloudwatch.Stats.SUM, period: PERIOD }),
          requests: api.stage.metricCount({ statistic: cloudwatch.Stats.SUM, period: PERIOD }),
        },
        period: PERIOD,
        label: 'API: 5xx, % of requests',
      }),
      threshold: percent,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      // No requests, no data: nothing failed.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    })

    // The login path's functions failing (a crash, a timeout, an init that failed: a handled failure is an answer, and
    // counts in the 5xx rate) or throttled (no reserved concurrency: the account's concurrency is used up). Lambda's
    // FunctionName metrics sum every version and alias, so they count the `live` alias's invocations too.
    for (const name of PROVISIONED_FUNCTIONS) {
      const { function: handler } = fn(name)
      alarm(`${functionId(name)}ErrorsAlarm`, {
        alarmDescription: `papa-auth: the ${name} function failed (crashed, timed out or could not start) in the last five minutes: its log says why (docs/deploying.md, Alarms and where they go)`,
        metric: handler.metricErrors({ statistic: cloudwatch.Stats.SUM, period: PERIOD }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        // Lambda sends Errors only for a period with invocations: no data is no request, and none failed.
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      })
      alarm(`${functionId(name)}ThrottlesAlarm`, {
        alarmDescription: `papa-auth: Lambda throttled the ${name} function in the last five minutes: the account's concurrency is used up (docs/deploying.md, Alarms and where they go)`,
        metric: handler.metricThrottles({ statistic: cloudwatch.Stats.SUM, period: PERIOD }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        // As Errors: no invocation, no data, nothing throttled.
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      })
    }

    // p99 latency of login and /users/me, per route: API Gateway's detailed metrics, turned on for these two routes.
    const { minRequests, periods, breaching } = ALARM_THRESHOLDS.latency
    const latencyAlarms = (
      [
        ['login', ALARM_THRESHOLDS.latency.loginMs],
        ['me', ALARM_THRESHOLDS.latency.meMs],
      ] as const
    ).map(([name, thresholdMs]) => {
      const route = onlyRouteOf(name)
      api.enableDetailedMetrics(route)
      const routeMetric = (metricName: string, statistic: string) =>
        new cloudwatch.Metric({
          namespace: 'AWS/ApiGateway',
          metricName,
          dimensionsMap: {
            ApiId: api.httpApi.apiId,
            Stage: api.stage.stageName,
            Method: route.method,
            Resource: route.path,
          },
          statistic,
          period: PERIOD,
        })
      return alarm(`${functionId(name)}LatencyAlarm`, {
        alarmDescription: `papa-auth: ${route.method} ${route.path} answered its slowest 1 % above ${thresholdMs} ms in ${breaching} of the last ${periods} five-minute periods (at least ${minRequests} requests each): the function's log, Neon's compute (docs/deploying.md, Alarms and where they go)`,
        metric: new cloudwatch.MathExpression({
          expression: `IF(FILL(requests, 0) >= ${minRequests}, latency, 0)`,
          usingMetrics: {
            latency: routeMetric('Latency', cloudwatch.Stats.p(99)),
            requests: routeMetric('Count', cloudwatch.Stats.SUM),
          },
          period: PERIOD,
          label: `${route.method} ${route.path}: p99 latency (ms)`,
        }),
        threshold: thresholdMs,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: periods,
        datapointsToAlarm: breaching,
        // No requests, no data: nothing was slow.
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      })
    })

    // A failed migrate: the deploy that ran it failed and rolled back (the Trigger runs it synchronously, and a
    // failure fails the deploy), or an operator's run failed.
    alarm('MigrateErrorsAlarm', {
      alarmDescription:
        'papa-auth: the migrate function failed: the deploy that ran it was rolled back, the previous functions still serve; its log names the migration (docs/deploying.md, Alarms and where they go)',
      metric: props.migrate.function.metricErrors({ statistic: cloudwatch.Stats.SUM, period: PERIOD }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      // It runs only when a deploy changes it, so there is no data between runs: the alarm keeps the last run's
      // verdict, raised until a run succeeds (a rollback's, or the next deploy's), instead of clearing in five minutes.
      treatMissingData: cloudwatch.TreatMissingData.IGNORE,
    })

    alarm('CleanupErrorsAlarm', {
      alarmDescription: `papa-auth: the cleanup failed in each of the last ${ALARM_THRESHOLDS.cleanupHours} hours: its log names the table and the error (docs/deploying.md, The cleanup)`,
      metric: props.cleanup.function.metricErrors({
        statistic: cloudwatch.Stats.SUM,
        period: Duration.hours(1),
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: ALARM_THRESHOLDS.cleanupHours,
      datapointsToAlarm: ALARM_THRESHOLDS.cleanupHours,
      // An hour without a run says nothing of failures: it breaks the streak rather than extending it.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    })

    // A failed rotation of the signing keys: Secrets Manager's own event, which CloudTrail hands to EventBridge
    // (detail-type "AWS Service Event via CloudTrail"; no trail needed), for this key set only. TestRotationFailed is
    // the same failure when a schedule change tests the rotation instead of running it.
    this.rotationFailed = new events.Rule(this, 'SigningKeysRotationFailed', {
      description: 'papa-auth: a rotation of the signing keys failed; tells the alarm topic',
      eventPattern: {
        source: ['aws.secretsmanager'],
        detailType: ['AWS Service Event via CloudTrail'],
        detail: {
          eventSource: ['secretsmanager.amazonaws.com'],
          eventName: ['RotationFailed', 'TestRotationFailed'],
          additionalEventData: { SecretId: [props.signingKeys.secret.secretArn] },
        },
      },
    })
    const topicArn = props.topic.topic.topicArn
    // A target of its own rather than aws-events-targets' SnsTopic, whose grant lets any rule of any account publish:
    // the topic allows this rule alone (AlarmTopic.allowRule). No role: EventBridge publishes to SNS by the topic's
    // policy, and a role would break delivery to an encrypted topic.
    this.rotationFailed.addTarget({
      bind: () => ({
        arn: topicArn,
        input: events.RuleTargetInput.fromText(
          `papa-auth ${stackName}: a rotation of the signing keys failed (${events.EventField.fromPath('$.detail.eventName')} at ${events.EventField.fromPath('$.time')}, secret ${events.EventField.fromPath('$.detail.additionalEventData.SecretId')}). The service keeps signing with the current keys. The rotation function's log says why: docs/deploying.md, Rotating the signing keys.`,
        ),
      }),
    })
    props.topic.allowRule(this.rotationFailed)
    const ruleMetric = (metricName: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/Events',
        metricName,
        dimensionsMap: { RuleName: this.rotationFailed.ruleName },
        statistic: cloudwatch.Stats.SUM,
        period: PERIOD,
      })
    // The rule's own delivery failing is the one failure the topic cannot be told of by the rule: by an alarm, then
    // (an operator's topic that does not let EventBridge publish, most likely).
    alarm('SigningKeysRotationAlertUndeliveredAlarm', {
      alarmDescription:
        "papa-auth: EventBridge could not tell the alarm topic of a failed rotation of the signing keys: the topic's policy must let events.amazonaws.com publish, its key let it encrypt (docs/deploying.md, Alarms and where they go)",
      metric: ruleMetric('FailedInvocations'),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      // EventBridge sends the metric only when the rule matched: no data is no failed rotation to deliver.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    })

    this.alarms = [...props.alarms, ...made]
    const action = new SnsAction(props.topic.topic)
    for (const each of this.alarms) {
      each.addAlarmAction(action)
      each.addOkAction(action)
    }

    const graph = (title: string, left: cloudwatch.IMetric[], width = 8) =>
      new cloudwatch.GraphWidget({ title, left, width, height: 6 })
    const lambdaGraph = (title: string, functions: readonly (readonly [string, AuthFunction])[]) =>
      graph(
        title,
        functions.flatMap(([name, each]) => [
          each.function.metricInvocations({
            label: `${name} invocations`,
            statistic: cloudwatch.Stats.SUM,
            period: PERIOD,
          }),
          each.function.metricErrors({
            label: `${name} errors`,
            statistic: cloudwatch.Stats.SUM,
            period: PERIOD,
          }),
        ]),
      )
    const loginPath = PROVISIONED_FUNCTIONS.map((name) => [name, fn(name)] as const)
    const count = (metric: CountedMetric, name: FunctionName, outcome: string) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: metric,
        dimensionsMap: { FunctionName: fn(name).function.functionName, Outcome: outcome },
        statistic: cloudwatch.Stats.SUM,
        period: PERIOD,
      })
    const provisioned = loginPath.flatMap(([name, each]) =>
      each.entryPoint instanceof lambda.Alias ? [[name, each.entryPoint] as const] : [],
    )

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.days(1),
      widgets: [
        [
          new cloudwatch.AlarmStatusWidget({
            title: `${stackName}: alarms`,
            alarms: [...this.alarms],
            width: 24,
          }),
        ],
        [
          graph('API requests', [
            api.stage.metricCount({ label: 'requests', statistic: cloudwatch.Stats.SUM, period: PERIOD }),
            api.stage.metricClientError({ label: '4xx', statistic: cloudwatch.Stats.SUM, period: PERIOD }),
            api.stage.metricServerError({ label: '5xx', statistic: cloudwatch.Stats.SUM, period: PERIOD }),
          ]),
          new cloudwatch.AlarmWidget({ title: 'API 5xx, % of requests', alarm: serverErrorRate, width: 8 }),
          ...latencyAlarms.map(
            (latency, index) =>
              new cloudwatch.AlarmWidget({
                title: `p99 latency: ${index === 0 ? 'login' : '/users/me'}`,
                alarm: latency,
                width: 4,
              }),
          ),
        ],
        [
          graph(
            'Logins',
            COUNTS.Logins.map(
              (outcome) =>
                // Logins through /auth/login and the token endpoint's password grant, together.
                new cloudwatch.MathExpression({
                  expression: `FILL(login_${outcome}, 0) + FILL(token_${outcome}, 0)`,
                  usingMetrics: {
                    [`login_${outcome}`]: count('Logins', 'login', outcome),
                    [`token_${outcome}`]: count('Logins', 'token', outcome),
                  },
                  label: outcome,
                  period: PERIOD,
                }),
            ),
            12,
          ),
          graph(
            'Password resets',
            [
              count('PasswordResets', 'password-reset', COUNTS.PasswordResets[0]),
              count('PasswordResets', 'password-reset-confirm', COUNTS.PasswordResets[1]),
            ].map((metric, index) => metric.with({ label: COUNTS.PasswordResets[index] })),
            12,
          ),
        ],
        [
          lambdaGraph('Login path: invocations and errors', loginPath),
          graph(
            'Login path: throttles',
            loginPath.map(([name, each]) =>
              each.function.metricThrottles({ label: name, statistic: cloudwatch.Stats.SUM, period: PERIOD }),
            ),
          ),
          // With `loginProvisionedConcurrency` only: the `live` aliases, and the requests that found them all busy.
          ...(provisioned.length > 0
            ? [
                graph(
                  'Login path: provisioned concurrency',
                  provisioned.flatMap(([name, alias]) => [
                    alias.metric('ProvisionedConcurrencyUtilization', {
                      label: `${name} utilization`,
                      statistic: cloudwatch.Stats.MAXIMUM,
                      period: PERIOD,
                    }),
                    alias.metric('ProvisionedConcurrencySpilloverInvocations', {
                      label: `${name} spillover (served cold)`,
                      statistic: cloudwatch.Stats.SUM,
                      period: PERIOD,
                    }),
                  ]),
                ),
              ]
            : []),
        ],
        [
          lambdaGraph('Migrate and cleanup', [
            ['migrate', props.migrate],
            ['cleanup', props.cleanup],
          ]),
          graph('Signing keys: rotations', [
            props.signingKeys.rotation.function.metricInvocations({
              label: 'rotation steps',
              statistic: cloudwatch.Stats.SUM,
              period: PERIOD,
            }),
            props.signingKeys.rotation.function.metricErrors({
              label: 'failed steps',
              statistic: cloudwatch.Stats.SUM,
              period: PERIOD,
            }),
            ruleMetric('TriggeredRules').with({ label: 'rotations failed' }),
            ruleMetric('FailedInvocations').with({ label: 'failures not delivered' }),
          ]),
          ...(props.mail
            ? [
                graph('Mail', [
                  props.mail.failures.metricApproximateNumberOfMessagesVisible({
                    label: 'jobs in MailFailures',
                    statistic: cloudwatch.Stats.MAXIMUM,
                    period: PERIOD,
                  }),
                  props.mail.sender.function.metricErrors({
                    label: 'send-mail errors',
                    statistic: cloudwatch.Stats.SUM,
                    period: PERIOD,
                  }),
                ]),
              ]
            : []),
        ],
      ],
    })

    new CfnOutput(this, 'DashboardName', {
      description:
        'The CloudWatch dashboard of the alarms and counts (docs/deploying.md, Alarms and where they go)',
      value: this.dashboard.dashboardName,
    })
  }
}

/** The one route of a function: the latency alarms watch it by its method and path. */
function onlyRouteOf(name: FunctionName): Route {
  const found = routes.filter((route) => route.function === name)
  if (found.length !== 1)
    throw new Error(`${name} has ${found.length} routes, and its latency alarm watches one`)
  return found[0] as Route
}
