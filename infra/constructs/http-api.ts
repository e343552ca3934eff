import { CfnOutput, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib'
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway'
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2'
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers'
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations'
import * as logs from 'aws-cdk-lib/aws-logs'
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager'
import type { Construct } from 'constructs'
import {
  API_BASE_PATH,
  type FunctionName,
  fallbackRoute,
  type LambdaSpec,
  lambdas,
  type Route,
  routes,
} from '#functions/routes'
import { CORS_POLICY } from '#shared/http/cors'
import { AdminRoutes } from './admin-routes.ts'
import { type AuthFunction, bindSecret, declaredFunction, functionId } from './auth-function.ts'
import { addRouteSettings, routeKey } from './route-settings.ts'
import { StackPart } from './stack-part.ts'

/**
 * The functions `loginProvisionedConcurrency` keeps initialized: the login path. `login` and `token` take the password
 * (the token endpoint's password grant is login's code; its refresh grant comes along). `refresh` is there too: an
 * app reopened after an idle spell has an expired access token (15 minutes by default), so its first request is a
 * refresh, far more often than a login (one per session, which lasts up to 30 days), and at 512 MB it costs under a
 * third of a bcrypt function's 1769 MB.
 */
export const PROVISIONED_FUNCTIONS = ['login', 'token', 'refresh'] as const satisfies readonly FunctionName[]

export interface AuthApiProps {
  /** Deploy the routes marked `docs` (OpenAPI, Swagger UI). */
  readonly docs: boolean
  /** The settings every function behind a route runs with; the API adds `JWT_ISSUER`, its own URL or `jwtIssuer`. */
  readonly environment: Record<string, string>
  /** The secrets a function may read, as its `reads` in `functions/routes.ts` says. */
  readonly secrets: {
    readonly database: secretsmanager.ISecret
    readonly signingKeys: secretsmanager.ISecret
    readonly publicKeys: secretsmanager.ISecret
  }
  readonly corsOrigins: readonly string[]
  readonly throttle: { readonly rateLimit: number; readonly burstLimit: number }
  /** The throttling of each route declared `callers: 'superuser'`, in place of `throttle`. */
  readonly adminThrottle: { readonly rateLimit: number; readonly burstLimit: number }
  /** The access tokens' issuer when it is not the API's own URL (a custom domain mapped to this API). */
  readonly jwtIssuer?: string | undefined
  readonly jwtAudience: string
  /** Environments kept initialized for each of `PROVISIONED_FUNCTIONS`; 0: none. */
  readonly provisionedConcurrency: number
  readonly logRetention: logs.RetentionDays
}

/**
 * The HTTP API: a route and a function per entry of `functions/routes.ts` (the `docs` ones only with the docs
 * context), everything else to `not-found`, the JWT authorizer on the routes declared `callers: 'token'`, and the
 * `$default` stage, throttled and access-logged; the routes declared `callers: 'superuser'` throttled lower, with an
 * alarm on their 5xx (`AdminRoutes`).
 */
export class AuthApi extends StackPart {
  /** The function behind each route, by its name in `functions/routes.ts`, `not-found` included. */
  readonly functions = new Map<FunctionName, AuthFunction>()
  /** The functions that query the database: updated only after the migrations. */
  readonly databaseReaders: AuthFunction[] = []
  /** The tokens' `iss`: the API's URL, or the `jwtIssuer` context. */
  readonly issuer: string
  readonly httpApi: apigw.HttpApi
  readonly stage: apigw.HttpStage
  /** The admin routes' throttling, metrics and 5xx alarm; none when no deployed route is declared for superusers. */
  readonly adminRoutes: AdminRoutes | undefined
  /** Every deployed route's resource, by its route key. */
  private readonly routeResources = new Map<string, apigw.HttpRoute>()
  private readonly throttle: AuthApiProps['throttle']

  constructor(scope: Construct, id: string, props: AuthApiProps) {
    super(scope, id)
    this.throttle = props.throttle
    // The fallback only maps a path to 404 or 405: it reads no secret and never touches the database.
    const notFound = declaredFunction(this, fallbackRoute.function, { logRetention: props.logRetention })
    this.functions.set(fallbackRoute.function, notFound)

    this.httpApi = new apigw.HttpApi(this, 'Api', {
      apiName: Stack.of(this).stackName,
      description: 'papa-auth: the authentication API',
      createDefaultStage: false,
      // Routes are method-specific, so every OPTIONS, a CORS preflight included, falls to $default; not-found
      // answers it 204 and API Gateway adds the CorsConfiguration headers. Hence no authorizer on $default (no
      // defaultAuthorizer here): a preflight carries no token.
      defaultIntegration: new HttpLambdaIntegration('NotFoundIntegration', notFound.function),
      ...(props.corsOrigins.length > 0
        ? {
            // The same policy object the local server applies, so a front end sees one CORS behaviour.
            corsPreflight: {
              allowOrigins: [...props.corsOrigins],
              allowMethods: CORS_POLICY.allowMethods.map((method) => apigw.CorsHttpMethod[method]),
              allowHeaders: [...CORS_POLICY.allowHeaders],
              exposeHeaders: [...CORS_POLICY.exposeHeaders],
              allowCredentials: CORS_POLICY.allowCredentials,
              maxAge: Duration.seconds(CORS_POLICY.maxAgeSeconds),
            },
          }
        : {}),
    })
    // The service is its own identity provider: the gateway fetches `<issuer>/.well-known/openid-configuration`, then
    // the keys at its `jwks_uri`, both served by this API. A reference to the API, not a cycle: the API needs no
    // function, only its routes do.
    this.issuer = props.jwtIssuer ?? this.httpApi.apiEndpoint

    const deployed = routes.filter((route) => !route.docs || props.docs)
    // The docs functions too get the settings: they read no secret, but state the configured limits in the OpenAPI
    // document.
    const environment = { JWT_ISSUER: this.issuer, ...props.environment }
    for (const name of new Set(deployed.map((route) => route.function))) {
      const fn = declaredFunction(this, name, { logRetention: props.logRetention, environment })
      // Each function reads what routes.ts says it reads, and nothing else: only the functions that sign read the
      // private keys.
      const reads: readonly string[] = (lambdas[name] as LambdaSpec).reads ?? []
      if (reads.includes('signing-keys'))
        bindSecret(fn, props.secrets.signingKeys, 'JWT_SIGNING_KEYS_SECRET_ARN')
      if (reads.includes('public-keys'))
        bindSecret(fn, props.secrets.publicKeys, 'JWT_PUBLIC_KEYS_SECRET_ARN')
      if (reads.includes('database')) {
        bindSecret(fn, props.secrets.database, 'DATABASE_SECRET_ARN')
        this.databaseReaders.push(fn)
      }
      this.functions.set(name, fn)
    }

    // The login path's provisioned concurrency: a version and a `live` alias for each of its functions, which the
    // routes then invoke. The version belongs to the function, so it too is published only after the migrations;
    // with 0 (the default) there is neither, and the template is what it was without the switch.
    if (props.provisionedConcurrency > 0)
      for (const name of PROVISIONED_FUNCTIONS)
        this.functions.get(name)?.provision(props.provisionedConcurrency)

    const authorizer = new HttpJwtAuthorizer('AccessTokenAuthorizer', this.issuer, {
      authorizerName: 'access-token',
      jwtAudience: [props.jwtAudience],
    })
    const integrations = new Map<FunctionName, HttpLambdaIntegration>()
    const adminRoutes: { route: Route; resource: apigw.HttpRoute }[] = []
    for (const route of deployed) {
      const fn = this.functions.get(route.function)
      if (!fn) throw new Error(`no function ${route.function}`)
      const integration =
        integrations.get(route.function) ??
        new HttpLambdaIntegration(`${functionId(route.function)}Integration`, fn.entryPoint)
      integrations.set(route.function, integration)
      const [resource] = this.httpApi.addRoutes({
        path: route.path,
        methods: [apigw.HttpMethod[route.method]],
        integration,
        ...(route.callers === 'token' ? { authorizer } : {}),
      })
      if (resource) this.routeResources.set(routeKey(route), resource)
      if (route.callers === 'superuser' && resource) adminRoutes.push({ route, resource })
    }
    Validations.of(this.httpApi).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        "This API is the authentication service itself: register, login, token and the key documents must be public, and /users/me verifies its bearer token in the function (it must also refuse a revoked session's token, which a gateway authorizer cannot know). Routes declared callers: 'token' in functions/routes.ts have the JWT authorizer.",
    })

    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    })
    this.stage = new apigw.HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: props.throttle,
      accessLogSettings: {
        destination: new apigw.LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            time: '$context.requestTimeEpoch',
            method: '$context.httpMethod',
            path: '$context.path',
            routeKey: '$context.routeKey',
            status: '$context.status',
            responseLength: '$context.responseLength',
            latencyMs: '$context.responseLatency',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    })
    this.adminRoutes =
      adminRoutes.length > 0
        ? new AdminRoutes(this, 'AdminRoutes', {
            httpApi: this.httpApi,
            stage: this.stage,
            routes: adminRoutes,
            throttle: props.adminThrottle,
          })
        : undefined

    new CfnOutput(this, 'ApiUrl', {
      description: 'The API base URL (the $default stage: no stage prefix)',
      value: `${this.stage.url}${API_BASE_PATH.slice(1)}`,
    })
    new CfnOutput(this, 'JwtIssuer', {
      description: "The access tokens' iss: other services verify them with <issuer>/.well-known/jwks.json",
      value: this.issuer,
    })
  }

  /**
   * Turns on API Gateway's per-route metrics for a deployed route (namespace `AWS/ApiGateway`, dimensions `ApiId`,
   * `Stage`, `Method`, `Resource`), at the stage's own throttling: the route's latency and answers as its callers see
   * them, which the latency alarms read. Each route so watched is a few metrics more on the bill.
   */
  enableDetailedMetrics(route: Pick<Route, 'method' | 'path'>): void {
    const resource = this.routeResources.get(routeKey(route))
    if (!resource) throw new Error(`no deployed route ${routeKey(route)}`)
    addRouteSettings(this.stage, [
      {
        route,
        resource,
        setting: {
          ThrottlingRateLimit: this.throttle.rateLimit,
          ThrottlingBurstLimit: this.throttle.burstLimit,
          DetailedMetricsEnabled: true,
        },
      },
    ])
  }
}
