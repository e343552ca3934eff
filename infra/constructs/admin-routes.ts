import { CfnOutput, Duration } from 'aws-cdk-lib'
import type * as apigw from 'aws-cdk-lib/aws-apigatewayv2'
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch'
import type { Construct, IConstruct } from 'constructs'
import type { Route } from '#functions/routes'
import { addRouteSettings } from './route-settings.ts'
import { StackPart } from './stack-part.ts'

/** CloudWatch's hard limit on the metrics one metric math alarm reads (CloudWatch User Guide, "Limits"). */
export const MAX_ALARM_METRICS = 10

export interface AdminRoutesProps {
  readonly httpApi: apigw.IHttpApi
  readonly stage: apigw.HttpStage
  /** The deployed routes declared `callers: 'superuser'` in `functions/routes.ts`, each with its route resource. */
  readonly routes: readonly { readonly route: Route; readonly resource: IConstruct }[]
  readonly throttle: { readonly rateLimit: number; readonly burstLimit: number }
}

/**
 * The admin routes' own place in the stage: a route setting each, with the lower throttling (`adminThrottle*`
 * context) and API Gateway's detailed (per-route) metrics, and one alarm on their 5xx answers.
 */
export class AdminRoutes extends StackPart {
  /** Raised by one 5xx from any admin route in five minutes; the stack's monitoring sends it to the alarm topic. */
  readonly serverErrorsAlarm: cloudwatch.Alarm

  constructor(scope: Construct, id: string, props: AdminRoutesProps) {
    super(scope, id)
    const { routes, stage, throttle } = props
    if (routes.length === 0) throw new Error('AdminRoutes needs at least one route')
    if (routes.length > MAX_ALARM_METRICS)
      throw new Error(
        `${routes.length} admin routes, and one alarm reads at most ${MAX_ALARM_METRICS} metrics: split the 5xx alarm in two (and combine them in a composite alarm)`,
      )

    // A route setting replaces the stage's default for its route, all of it: the throttling and the detailed metrics
    // (which the alarm reads) are both given here.
    addRouteSettings(
      stage,
      routes.map(({ route, resource }) => ({
        route,
        resource,
        setting: {
          ThrottlingRateLimit: throttle.rateLimit,
          ThrottlingBurstLimit: throttle.burstLimit,
          DetailedMetricsEnabled: true,
        },
      })),
    )

    // API Gateway's detailed metrics of an HTTP API carry the dimensions ApiId, Method, Resource (the route's path) and
    // Stage (developerguide/http-api-metrics.html). A route without requests in a period has no data point, so each
    // is filled with 0 before the sum: one erroring route alone raises the alarm.
    const period = Duration.minutes(5)
    const usingMetrics = Object.fromEntries(
      routes.map(({ route }, index) => [
        `m${index}`,
        new cloudwatch.Metric({
          namespace: 'AWS/ApiGateway',
          metricName: '5xx',
          dimensionsMap: {
            ApiId: props.httpApi.apiId,
            Stage: stage.stageName,
            Method: route.method,
            Resource: route.path,
          },
          statistic: cloudwatch.Stats.SUM,
          period,
        }),
      ]),
    )
    this.serverErrorsAlarm = new cloudwatch.Alarm(this, 'AdminServerErrorsAlarm', {
      alarmDescription:
        "papa-auth: an admin route (callers 'superuser' in functions/routes.ts) answered 5xx; read the admin functions' logs and the API access log (docs/deploying.md)",
      metric: new cloudwatch.MathExpression({
        expression: Object.keys(usingMetrics)
          .map((metricId) => `FILL(${metricId}, 0)`)
          .join(' + '),
        usingMetrics,
        period,
        label: 'admin routes: 5xx answers',
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    })

    new CfnOutput(this, 'AdminServerErrorsAlarmName', {
      description:
        'The alarm on the admin routes’ 5xx answers, sent to the alarm topic (docs/deploying.md, The admin routes)',
      value: this.serverErrorsAlarm.alarmName,
    })
  }
}
