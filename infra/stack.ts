import { createHash } from 'node:crypto'
import { cpSync, readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import {
  Annotations,
  type App,
  Aws,
  CfnOutput,
  CfnResource,
  CfnRule,
  Duration,
  Fn,
  Lazy,
  RemovalPolicy,
  Stack,
  type StackProps,
  Token,
  Validations,
} from 'aws-cdk-lib'
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway'
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2'
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers'
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations'
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch'
import * as events from 'aws-cdk-lib/aws-events'
import * as eventTargets from 'aws-cdk-lib/aws-events-targets'
import * as iam from 'aws-cdk-lib/aws-iam'
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations'
import * as logs from 'aws-cdk-lib/aws-logs'
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager'
import * as sqs from 'aws-cdk-lib/aws-sqs'
import { InvocationType, Trigger } from 'aws-cdk-lib/triggers'
import { AwsSolutionsChecks } from 'cdk-nag'
import type { Construct, Node } from 'constructs'
import addressparser from 'nodemailer/lib/addressparser'
import {
  API_BASE_PATH,
  type FunctionName,
  fallbackRoute,
  type LambdaSpec,
  lambdas,
  type Route,
  routes,
} from '#functions/routes'
import { bundleFunction, MIGRATIONS_FOLDER, repositoryRoot } from '#infra/bundling'
import { AuthFunction, bindSecret, functionBundle } from '#infra/constructs/auth-function'
import { NeonDatabase } from '#infra/constructs/neon-database'
import { type ComputeSettings, computeUnitsProblem, suspendTimeoutProblem } from '#infra/neon/compute'
import { awsRegionsNeonServes, pgVersionProblem, regionProblem } from '#infra/neon/regions'
import { CORS_POLICY, parseCorsOrigins } from '#shared/http/cors'
import { ConfigError, INTEGER_SETTINGS, loadConfig, TEXT_DEFAULTS } from '#shared/platform/config'

export type DatabaseSettings =
  | {
      readonly kind: 'neon'
      readonly apiKeySecretName: string
      readonly projectName: string
      /** Neon's region id (checked against `NEON_REGIONS`); unset: Neon's region of the stack's own (`aws-<region>`). */
      readonly regionId?: string | undefined
      readonly pgVersion: number
      readonly orgId: string | undefined
      /** The compute's suspend timeout and size (`neonSuspendTimeoutSeconds`, `neonMin/MaxComputeUnits`); unset: Neon's. */
      readonly compute?: ComputeSettings | undefined
      readonly deleteOnRemoval: boolean
      readonly apiUrl?: string
    }
  | { readonly kind: 'existing'; readonly secretName: string }

/**
 * Password reset mail: context `mailFrom` and `passwordResetUrl` (both, or neither), `sesIdentity`, `productName`.
 * Unset, the stack sends no mail: no mail sender, and a reset request is answered 503.
 */
export interface MailSettings {
  /** The sender of every mail (`MAIL_FROM`): `Name <address>` or an address. */
  readonly from: string
  /** The address inside `from`: the only one the mail sender may send as (`ses:FromAddress`). */
  readonly fromAddress: string
  /** The verified SES identity that covers `fromAddress`: its domain (or a parent domain), or the address itself. */
  readonly sesIdentity: string
  /** The front end's reset page, `{token}` standing for the token (`PASSWORD_RESET_URL`). */
  readonly passwordResetUrl: string
  readonly productName: string
}

export interface AuthStackSettings {
  readonly adminEmail: string
  readonly corsOrigins: readonly string[]
  readonly throttle: { readonly rateLimit: number; readonly burstLimit: number }
  readonly logRetention: logs.RetentionDays
  /** Deploy the routes marked `docs` (OpenAPI, Swagger UI). */
  readonly docs: boolean
  /**
   * The access tokens' `iss`, and the issuer of API Gateway's JWT authorizer. Unset (the default): the API's own URL
   * (its `apiEndpoint`), where the service serves `/.well-known/openid-configuration` and `/.well-known/jwks.json`.
   * Set it only to a URL that serves those two documents too, such as a custom domain mapped to this API.
   */
  readonly jwtIssuer?: string | undefined
  readonly jwtAudience: string
  readonly bcryptCost: number
  /** The service's limits and lifetimes given as context (the rest keep their defaults), by setting name. */
  readonly limits: Partial<Record<LimitSetting, number>>
  /** Changing it replaces every warm container, so each function reads its secrets again (after a rotation). */
  readonly secretsGeneration: string
  /** Days between two scheduled rotations of the signing keys (`signingKeyRotationDays`). */
  readonly signingKeyRotationDays: number
  readonly database: DatabaseSettings
  /** Password reset mail; unset, none is sent (a reset request is answered 503). */
  readonly mail?: MailSettings | undefined
  /**
   * Execution environments kept initialized for each function of the login path (`PROVISIONED_FUNCTIONS`), served
   * through their `live` alias (`loginProvisionedConcurrency`). 0, the default: none, no alias, no version.
   */
  readonly loginProvisionedConcurrency?: number
  /** The migrations the migrate function carries; the committed ones unless a test says otherwise. */
  readonly migrationsFolder?: string
}

export interface AuthStackProps extends StackProps {
  readonly settings: AuthStackSettings
}

export const DEFAULT_STACK_NAME = 'PapaAuth'
export const DATABASE_NAME = 'papa_auth'
export const DATABASE_ROLE = 'papa_auth_owner'
/** The login the API functions, seed-admin and cleanup use (`pooledUrl`); migrate grants it `papa_auth_app`. */
export const DATABASE_API_ROLE = 'papa_auth_api'

/**
 * The functions `loginProvisionedConcurrency` keeps initialized: the login path. `login` and `token` take the password
 * (the token endpoint's password grant is login's code; its refresh grant comes along). `refresh` is there too: an
 * app reopened after an idle spell has an expired access token (15 minutes by default), so its first request is a
 * refresh, far more often than a login (one per session, which lasts up to 30 days), and at 512 MB it costs under a
 * third of a bcrypt function's 1769 MB.
 */
export const PROVISIONED_FUNCTIONS = ['login', 'token', 'refresh'] as const satisfies readonly FunctionName[]
/** The upper bound of `loginProvisionedConcurrency`: each unit is three environments, counted against the account. */
export const MAX_PROVISIONED_CONCURRENCY = 100

/** A function's memory and timeout, as `functions/routes.ts` sizes it. */
const sizing = (name: FunctionName) => ({
  memoryMb: lambdas[name].memoryMb,
  timeout: Duration.seconds(lambdas[name].timeoutSeconds),
})

/**
 * The whole service in one stack: an HTTP API with a route and a function per entry of `functions/routes.ts`, the
 * secrets (generated by Secrets Manager, never in the template), the database (a Neon project, or an existing
 * secret), the migrations run on deploy before the API functions change, the operator's seed function, and (with the
 * mail context) the mail sender with its failure queue and alarms.
 */
export class AuthStack extends Stack {
  /** Every function by its name in `functions/routes.ts` (plus `migrate` and `seed-admin`). */
  readonly functions = new Map<string, AuthFunction>()
  /** Runs the migrations on deploy. */
  readonly migration: Trigger
  /** The tokens' issuer, known once the API exists (`api()`): its URL, or the `jwtIssuer` context. */
  private issuer: string | undefined

  constructor(scope: Construct, id: string, props: AuthStackProps) {
    super(scope, id, props)
    const { settings } = props

    // Both made with a generated placeholder: the first rotation, which Secrets Manager runs as soon as the rotation
    // schedule exists, writes the first key set and publishes its keys. No key is ever in the template.
    const signingKeys = new secretsmanager.Secret(this, 'SigningKeys', {
      description: `${this.stackName}: the access tokens' RS256 signing key set {current, next, previous}, private keys included (made by its rotation function)`,
      generateSecretString: { passwordLength: 32, excludePunctuation: true },
    })
    const publicKeys = new secretsmanager.Secret(this, 'PublicKeys', {
      description: `${this.stackName}: the published signing keys {"keys": [...]}, public keys only (written by the signing keys' rotation function)`,
      generateSecretString: { passwordLength: 32, excludePunctuation: true },
    })
    const adminPassword = new secretsmanager.Secret(this, 'AdminPassword', {
      description: `${this.stackName}: the password of the admin account that seed-admin creates (generated at deploy)`,
      generateSecretString: { passwordLength: 32, excludePunctuation: true },
    })
    const database = this.database(settings)
    acknowledgeNoRotation(
      publicKeys,
      'Holds nothing secret: the public keys the JWKS endpoint serves to anyone. It changes with the signing keys, whose rotation function writes it at every rotation.',
    )
    acknowledgeNoRotation(
      adminPassword,
      "Read only by seed-admin, once, to create the admin account: rotating the secret afterwards would not change the account's password.",
    )

    const environment = {
      // A reference to the API (made below), not a cycle: the API needs no function, only its routes do.
      JWT_ISSUER: Lazy.string({ produce: () => this.issuer }),
      JWT_AUDIENCE: settings.jwtAudience,
      BCRYPT_COST: String(settings.bcryptCost),
      SECRETS_GENERATION: settings.secretsGeneration,
      ...Object.fromEntries(Object.entries(settings.limits).map(([name, value]) => [name, String(value)])),
    }

    const deployed = routes.filter((route) => !route.docs || settings.docs)
    const readers: AuthFunction[] = []
    for (const route of deployed) {
      if (this.functions.has(route.function)) continue
      const fn = new AuthFunction(this, functionId(route.function), {
        name: route.function,
        ...sizing(route.function),
        logRetention: settings.logRetention,
        // The docs functions too: they read no secret, but state the configured limits in the OpenAPI document.
        environment,
      })
      // Each function reads what routes.ts says it reads, and nothing else: only the functions that sign read the
      // private keys.
      const reads: readonly string[] = (lambdas[route.function] as LambdaSpec).reads ?? []
      if (reads.includes('signing-keys')) bindSecret(fn, signingKeys, 'JWT_SIGNING_KEYS_SECRET_ARN')
      if (reads.includes('public-keys')) bindSecret(fn, publicKeys, 'JWT_PUBLIC_KEYS_SECRET_ARN')
      if (reads.includes('database')) {
        bindSecret(fn, database.secret, 'DATABASE_SECRET_ARN')
        readers.push(fn)
      }
      this.functions.set(route.function, fn)
    }
    // The fallback only maps a path to 404 or 405: it reads no secret and never touches the database.
    const notFound = new AuthFunction(this, functionId(fallbackRoute.function), {
      name: fallbackRoute.function,
      ...sizing(fallbackRoute.function),
      logRetention: settings.logRetention,
    })
    this.functions.set(fallbackRoute.function, notFound)

    const migrationsFolder = settings.migrationsFolder ?? MIGRATIONS_FOLDER
    const migrate = new AuthFunction(this, 'Migrate', {
      name: 'migrate',
      ...sizing('migrate'),
      logRetention: settings.logRetention,
      // The hash makes the migration set visible on the function, and a new set a new version (so a new run).
      description: `papa-auth migrate: applies migration set ${hashFolder(migrationsFolder).slice(0, 16)}`,
      environment: { SECRETS_GENERATION: settings.secretsGeneration },
      bundle: functionBundle('migrate', settings.migrationsFolder),
    })
    bindSecret(migrate, database.secret, 'DATABASE_SECRET_ARN')
    this.functions.set('migrate', migrate)

    const seedAdmin = new AuthFunction(this, 'SeedAdmin', {
      name: 'seed-admin',
      ...sizing('seed-admin'),
      logRetention: settings.logRetention,
      environment: {
        ADMIN_EMAIL: settings.adminEmail,
        BCRYPT_COST: String(settings.bcryptCost),
        SECRETS_GENERATION: settings.secretsGeneration,
      },
    })
    bindSecret(seedAdmin, database.secret, 'DATABASE_SECRET_ARN')
    bindSecret(seedAdmin, adminPassword, 'ADMIN_PASSWORD_SECRET_ARN')
    readers.push(seedAdmin)
    this.functions.set('seed-admin', seedAdmin)

    // Carries the FastAPI backend's users over, once, when an operator invokes it (docs/deploying.md, Carrying over
    // the FastAPI database). Like migrate, whose work it includes: the database secret only (directUrl, and pooledUrl
    // for the API role it then aligns), and the migration set in its bundle.
    const cutover = new AuthFunction(this, 'Cutover', {
      name: 'cutover',
      ...sizing('cutover'),
      logRetention: settings.logRetention,
      description: `papa-auth cutover: carries the FastAPI users over, with migration set ${hashFolder(migrationsFolder).slice(0, 16)}`,
      environment: { SECRETS_GENERATION: settings.secretsGeneration },
      bundle: {
        key: `functions/cutover.ts+${relative(repositoryRoot, migrationsFolder)}`,
        build: (outdir) => {
          bundleFunction('cutover', outdir)
          cpSync(migrationsFolder, join(outdir, 'migrations'), { recursive: true })
        },
      },
    })
    bindSecret(cutover, database.secret, 'DATABASE_SECRET_ARN')
    this.functions.set('cutover', cutover)
    const invokeCutover = (payload: string, file: string) =>
      `aws lambda invoke --function-name ${cutover.function.functionName} --region ${Aws.REGION} --cli-binary-format raw-in-base64-out --cli-read-timeout 0 --payload '${payload}' ${file} && cat ${file}`
    new CfnOutput(this, 'CutoverDryRunCommand', {
      description:
        'Reports every FastAPI user that cannot be carried over as it is (JSON), changing nothing (docs/deploying.md)',
      value: invokeCutover('{"apply":false}', 'cutover-dry-run.json'),
    })
    new CfnOutput(this, 'CutoverApplyCommand', {
      description:
        'Carries the FastAPI users over: keep one value of each choice the dry run asks for and drop the keys it does not; a placeholder left as it is is refused',
      value: invokeCutover(
        '{"apply":true,"emailCollisions":"merge|deactivate","usernameCollisions":"rename|clear","invalidEmails":"deactivate"}',
        'cutover-apply.json',
      ),
    })

    // Deletes what no rule reads any more (expired tokens and sessions, passed windows, old audit events), hourly.
    const cleanup = new AuthFunction(this, 'Cleanup', {
      name: 'cleanup',
      ...sizing('cleanup'),
      logRetention: settings.logRetention,
      environment,
    })
    bindSecret(cleanup, database.secret, 'DATABASE_SECRET_ARN')
    readers.push(cleanup)
    this.functions.set('cleanup', cleanup)
    new events.Rule(this, 'CleanupSchedule', {
      description: 'papa-auth: runs the cleanup function every hour',
      schedule: events.Schedule.rate(Duration.hours(1)),
      targets: [new eventTargets.LambdaFunction(cleanup.function, { retryAttempts: 2 })],
    })

    // The mail sender, and the functions that queue mail allowed to invoke it (asynchronously), that one alone.
    // Without the mail context there is none: those functions get no MAILER_FUNCTION_NAME, so a reset request is
    // answered 503 (not configured) and a password change queues its notice for no one.
    if (settings.mail) {
      const sendMail = this.mailSender(settings, settings.mail, database.secret)
      if (/^http:/i.test(settings.mail.passwordResetUrl))
        Annotations.of(this).addWarningV2(
          'papa-auth:reset-url-http',
          'context passwordResetUrl is http: every reset link, token included, travels unencrypted. Use https outside local development.',
        )
      // It reads the mail jobs' tables: updated only after the migrations that make them.
      readers.push(sendMail)
      for (const [name, fn] of this.functions) {
        if (!(lambdas[name as FunctionName] as LambdaSpec | undefined)?.queuesMail) continue
        fn.function.addEnvironment('MAILER_FUNCTION_NAME', sendMail.function.functionName)
        // The unqualified function, which is what they invoke; grantInvoke would add `<arn>:*` (every version and
        // alias).
        fn.function.addToRolePolicy(
          new iam.PolicyStatement({
            actions: ['lambda:InvokeFunction'],
            resources: [sendMail.function.functionArn],
          }),
        )
      }
    } else {
      Annotations.of(this).addWarningV2(
        'papa-auth:mail-off',
        'Password reset emails are off: POST /auth/password-reset answers 503 and no password-changed notice is sent. ' +
          'To send them, set context mailFrom (the sender, e.g. "Past Questions <no-reply@mail.example.com>", an ' +
          "address of a verified SES identity) and passwordResetUrl (the front end's reset page, {token} where the token goes); " +
          'optionally sesIdentity and productName (docs/deploying.md, Mail).',
      )
    }

    const rotateSigningKeys = this.signingKeyRotation(settings, signingKeys, publicKeys)

    // Runs the migrate function's current version whenever it changes (new migrations change its bundle and its
    // description), after the database exists and before any function that queries it is updated. The migrate
    // handler throws on failure, which fails the deploy and rolls it back with the old functions still in place.
    this.migration = new Trigger(this, 'MigrateOnDeploy', {
      handler: migrate.function,
      invocationType: InvocationType.REQUEST_RESPONSE,
      timeout: sizing('migrate').timeout,
      executeAfter: database.provisioner ? [database.provisioner] : [],
      executeBefore: readers.map((fn) => fn.function),
    })

    this.triggerProviderLogs(settings.logRetention)

    // The login path's provisioned concurrency: a version and a `live` alias for each of its functions, which API
    // Gateway then invokes. The version belongs to the function, so it too is published only after the migrations;
    // with 0 (the default) there is neither, and the template is what it was without the switch.
    const provisioned = settings.loginProvisionedConcurrency ?? 0
    if (provisioned > 0) {
      for (const name of PROVISIONED_FUNCTIONS) this.functions.get(name)?.provision(provisioned)
    }

    const api = this.api(settings, deployed, notFound)

    new CfnOutput(this, 'ApiUrl', {
      description: 'The API base URL (the $default stage: no stage prefix)',
      value: `${api.stage.url}${API_BASE_PATH.slice(1)}`,
    })
    new CfnOutput(this, 'SeedAdminCommand', {
      description: 'Creates the admin account (or leaves an existing one unchanged); prints the outcome',
      value: `aws lambda invoke --function-name ${seedAdmin.function.functionName} --region ${Aws.REGION} --cli-binary-format raw-in-base64-out --payload '{}' seed-admin-result.json && cat seed-admin-result.json`,
    })
    new CfnOutput(this, 'AdminPasswordCommand', {
      description: "Prints the admin's generated password (the value never leaves Secrets Manager otherwise)",
      value: `aws secretsmanager get-secret-value --secret-id ${adminPassword.secretArn} --region ${Aws.REGION} --query SecretString --output text`,
    })
    new CfnOutput(this, 'SigningKeysSecretArn', { value: signingKeys.secretArn })
    new CfnOutput(this, 'RotateSigningKeysCommand', {
      description:
        'Rotates the signing keys now (docs/deploying.md): refused while the next key has been published for less than 2 h 15 min',
      value: `aws secretsmanager rotate-secret --secret-id ${signingKeys.secretArn} --region ${Aws.REGION}`,
    })
    new CfnOutput(this, 'RotateSigningKeysFunctionName', { value: rotateSigningKeys.function.functionName })
    new CfnOutput(this, 'DatabaseSecretArn', {
      value: database.secret.secretFullArn ?? database.secret.secretName,
    })
    new CfnOutput(this, 'MigrateFunctionName', { value: migrate.function.functionName })
    if (database.neon) new CfnOutput(this, 'NeonProjectId', { value: database.neon.projectId })
  }

  /**
   * CDK's trigger provider is a stack singleton that lets Lambda create its log group, with no retention: point it at
   * one of ours instead, like every other function.
   */
  private triggerProviderLogs(retention: logs.RetentionDays) {
    const provider = this.node.tryFindChild('AWSCDK.TriggerCustomResourceProviderCustomResourceProvider')
    const handler = provider?.node.tryFindChild('Handler')
    if (!(handler instanceof CfnResource)) throw new Error('the trigger provider has moved: update AuthStack')
    const logGroup = new logs.LogGroup(this, 'TriggerProviderLogs', {
      retention,
      removalPolicy: RemovalPolicy.DESTROY,
    })
    handler.addPropertyOverride('LoggingConfig', { LogGroup: logGroup.logGroupName, LogFormat: 'JSON' })
  }

  /**
   * Secrets Manager's own rotation of the signing keys, every `signingKeyRotationDays` and on demand (`rotate-secret`):
   * a function implementing the four steps (`shared/app/signing-key-rotation.ts`), allowed exactly the protocol's calls
   * on the key set and a write of the published keys. CDK's `RotationSchedule` would also grant GetRandomPassword on
   * every resource, which this function never calls, hence the schedule resource itself.
   */
  private signingKeyRotation(
    settings: AuthStackSettings,
    signingKeys: secretsmanager.Secret,
    publicKeys: secretsmanager.Secret,
  ): AuthFunction {
    const fn = new AuthFunction(this, 'RotateSigningKeys', {
      name: 'rotate-signing-keys',
      ...sizing('rotate-signing-keys'),
      logRetention: settings.logRetention,
      // The secret it writes; the key set's own id comes with each invocation.
      environment: { JWT_PUBLIC_KEYS_SECRET_ARN: publicKeys.secretArn },
    })
    fn.function.addToRolePolicy(
      new iam.PolicyStatement({
        actions: [
          'secretsmanager:DescribeSecret',
          'secretsmanager:GetSecretValue',
          'secretsmanager:PutSecretValue',
          'secretsmanager:UpdateSecretVersionStage',
        ],
        resources: [signingKeys.secretArn],
      }),
    )
    fn.function.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:PutSecretValue'],
        resources: [publicKeys.secretArn],
      }),
    )
    fn.function.addPermission('InvokedBySecretsManager', {
      principal: new iam.ServicePrincipal('secretsmanager.amazonaws.com'),
      sourceAccount: this.account,
    })
    const invoke = fn.function.permissionsNode.findChild('InvokedBySecretsManager')
    this.functions.set('rotate-signing-keys', fn)
    const schedule = new secretsmanager.CfnRotationSchedule(this, 'SigningKeysRotation', {
      secretId: signingKeys.secretArn,
      rotationLambdaArn: fn.function.functionArn,
      rotationRules: { scheduleExpression: `rate(${settings.signingKeyRotationDays} days)` },
      // At creation, the first rotation (placeholder to key set); after a change of the schedule, a rotation too.
      rotateImmediatelyOnUpdate: true,
    })
    // Secrets Manager checks that it may invoke the function, and the function needs its grants, from the first call.
    schedule.node.addDependency(invoke, fn.role)
    return fn
  }

  /**
   * `send-mail`: sends the mail of one job, invoked asynchronously by the functions that queue mail. Lambda retries a
   * failed invocation twice (about one, then two minutes later), then hands the event (the job id, nothing secret)
   * to the MailFailures queue; an alarm watches that queue, another the function's errors. It reads the database
   * secret (the job, the user's address, the reset link's hash) and may send through SES as the sender alone.
   */
  private mailSender(
    settings: AuthStackSettings,
    mail: MailSettings,
    databaseSecret: secretsmanager.ISecret,
  ): AuthFunction {
    const resetTtl = settings.limits.PASSWORD_RESET_TTL_SECONDS
    const fn = new AuthFunction(this, 'SendMail', {
      name: 'send-mail',
      ...sizing('send-mail'),
      logRetention: settings.logRetention,
      environment: {
        MAIL_FROM: mail.from,
        PASSWORD_RESET_URL: mail.passwordResetUrl,
        PRODUCT_NAME: mail.productName,
        SECRETS_GENERATION: settings.secretsGeneration,
        // The link's lifetime, which the mail states and the token is issued with; the API functions get it too.
        ...(resetTtl === undefined ? {} : { PASSWORD_RESET_TTL_SECONDS: String(resetTtl) }),
      },
    })
    bindSecret(fn, databaseSecret, 'DATABASE_SECRET_ARN')
    // nodemailer's SES transport calls SES API v2 SendEmail with Raw content. What the AWS docs say (SES developer
    // guide, "Identity and access management in Amazon SES"): the sending actions are ses:SendEmail and
    // ses:SendRawEmail, a policy that allows only those may scope Resource to the identity ARNs the user may send as,
    // and ses:FromAddress conditions the "From" address. They do not say which action a v2 SendEmail with Raw content
    // is checked as; its AccessDenied names ses:SendRawEmail (as users of the v2 API report, e.g. django-anymail's
    // docs), a Simple one's ses:SendEmail. Hence both, on the one identity, for the one sender address. The call names
    // no configuration set, contact list or template, so no other SES resource is needed.
    fn.function.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ses:SendEmail', 'ses:SendRawEmail'],
        resources: [this.formatArn({ service: 'ses', resource: 'identity', resourceName: mail.sesIdentity })],
        conditions: { StringEquals: { 'ses:FromAddress': mail.fromAddress } },
      }),
    )

    // The failure destination: the record of each event that failed every attempt (the job id, the last error).
    // Jobs stay in mail_outbox too (settled_at null), so the queue is the alert, not the only copy.
    const failures = new sqs.Queue(this, 'MailFailures', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    })
    Validations.of(failures).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        "This queue is itself the failure destination of send-mail's asynchronous invocations (Lambda's on-failure destination, which cdk-nag does not recognise as a DLQ): nothing consumes it, an operator reads and redrives it (docs/deploying.md), so a dead-letter queue of its own would never receive anything.",
    })
    fn.function.configureAsyncInvoke({
      retryAttempts: 2,
      // Both retries come within minutes; an event Lambda could not run for an hour (throttled, SES or the database
      // down) goes to MailFailures then rather than after the default six hours: a reset link is valid 30 minutes
      // by default, so a later mail would only say it expired, and the alarm should fire while the user still waits.
      maxEventAge: Duration.hours(1),
      onFailure: new SqsDestination(failures),
    })

    new cloudwatch.Alarm(this, 'MailFailuresAlarm', {
      alarmDescription:
        'papa-auth: a mail job failed every attempt and is in the MailFailures queue; redrive it (docs/deploying.md, Mail)',
      metric: failures.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    })
    new cloudwatch.Alarm(this, 'SendMailErrorsAlarm', {
      alarmDescription:
        'papa-auth: send-mail failed (SES refused or unreachable, or the database); Lambda retries it twice, then MailFailures',
      metric: fn.function.metricErrors({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    })

    new CfnOutput(this, 'MailFailuresQueueUrl', {
      description: 'The mail jobs that failed every attempt, to read and redrive (docs/deploying.md, Mail)',
      value: failures.queueUrl,
    })
    new CfnOutput(this, 'SendMailFunctionName', {
      description: 'The mail sender: its log, and the function a failed job is redriven to',
      value: fn.function.functionName,
    })
    this.functions.set('send-mail', fn)
    return fn
  }

  private database(settings: AuthStackSettings): {
    secret: secretsmanager.ISecret
    provisioner?: Construct
    neon?: NeonDatabase
  } {
    const config = settings.database
    if (config.kind === 'existing') {
      return { secret: importSecret(this, 'DatabaseSecret', config.secretName) }
    }
    const secret = new secretsmanager.Secret(this, 'DatabaseSecret', {
      description: `${this.stackName}: {"pooledUrl","directUrl"} of the Neon database, written by the Neon project resource`,
      // Kept with the project it points to, unless the engineer opted in to deleting both.
      removalPolicy: config.deleteOnRemoval ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    })
    acknowledgeNoRotation(
      secret,
      "A copy of two logins' connection strings, rotated by hand: the owner's password is reset in Neon, the API role's is a new one written into pooledUrl; then put-secret-value and a deploy with a new secretsGeneration, which reruns migrate (it sets the API role's password) and makes every function read the secret (docs/deploying.md, Rotating the database passwords).",
    )
    const neon = new NeonDatabase(this, 'Neon', {
      databaseSecret: secret,
      apiKeySecret: importSecret(this, 'NeonApiKey', config.apiKeySecretName),
      projectName: config.projectName,
      regionId: neonRegionOf(this, config.regionId),
      pgVersion: config.pgVersion,
      databaseName: DATABASE_NAME,
      roleName: DATABASE_ROLE,
      apiRoleName: DATABASE_API_ROLE,
      orgId: config.orgId,
      compute: config.compute,
      deleteOnRemoval: config.deleteOnRemoval,
      logRetention: settings.logRetention,
      ...(config.apiUrl ? { apiUrl: config.apiUrl } : {}),
    })
    return { secret, provisioner: neon, neon }
  }

  private api(settings: AuthStackSettings, deployed: readonly Route[], notFound: AuthFunction) {
    const integrations = new Map<string, HttpLambdaIntegration>()
    const integrationFor = (name: string) => {
      let integration = integrations.get(name)
      if (!integration) {
        const fn = this.functions.get(name)
        if (!fn) throw new Error(`no function ${name}`)
        integration = new HttpLambdaIntegration(`${functionId(name)}Integration`, fn.entryPoint)
        integrations.set(name, integration)
      }
      return integration
    }

    const httpApi = new apigw.HttpApi(this, 'Api', {
      apiName: this.stackName,
      description: 'papa-auth: the authentication API',
      createDefaultStage: false,
      // Routes are method-specific, so every OPTIONS, a CORS preflight included, falls to $default; not-found
      // answers it 204 and API Gateway adds the CorsConfiguration headers. Hence no authorizer on $default (no
      // defaultAuthorizer here): a preflight carries no token.
      defaultIntegration: new HttpLambdaIntegration('NotFoundIntegration', notFound.function),
      ...(settings.corsOrigins.length > 0
        ? {
            // The same policy object the local server applies, so a front end sees one CORS behaviour.
            corsPreflight: {
              allowOrigins: [...settings.corsOrigins],
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
    // the keys at its `jwks_uri`, both served by this API. Bound only by the routes declared `callers: 'token'`.
    this.issuer = settings.jwtIssuer ?? httpApi.apiEndpoint
    const authorizer = new HttpJwtAuthorizer('AccessTokenAuthorizer', this.issuer, {
      authorizerName: 'access-token',
      jwtAudience: [settings.jwtAudience],
    })
    new CfnOutput(this, 'JwtIssuer', {
      description: "The access tokens' iss: other services verify them with <issuer>/.well-known/jwks.json",
      value: this.issuer,
    })
    for (const route of deployed) {
      httpApi.addRoutes({
        path: route.path,
        methods: [apigw.HttpMethod[route.method]],
        integration: integrationFor(route.function),
        ...(route.callers === 'token' ? { authorizer } : {}),
      })
    }

    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', {
      retention: settings.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    })
    const stage = new apigw.HttpStage(this, 'DefaultStage', {
      httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: settings.throttle,
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
    Validations.of(httpApi).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        "This API is the authentication service itself: register, login, token and the key documents must be public, and /users/me verifies its bearer token in the function (it must also refuse a revoked session's token, which a gateway authorizer cannot know). Routes declared callers: 'token' in functions/routes.ts have the JWT authorizer.",
    })
    return { httpApi, stage }
  }
}

/** Reads the CDK context (`-c key=value` or cdk.json); every key has a default, and a bad value fails the synth. */
export function readSettings(node: Node): AuthStackSettings {
  const get = (key: string): unknown => node.tryGetContext(key)
  const text = (key: string, fallback: string) => {
    const value = get(key)
    return value === undefined || value === '' ? fallback : String(value)
  }
  const databaseSecretName = get('databaseSecretName')
  const stackName = text('stackName', DEFAULT_STACK_NAME)
  return {
    adminEmail: text('adminEmail', 'admin@example.com'),
    corsOrigins: origins(get('corsOrigins')),
    throttle: {
      rateLimit: positiveNumber('throttleRateLimit', get('throttleRateLimit'), 50),
      burstLimit: positiveNumber('throttleBurstLimit', get('throttleBurstLimit'), 100),
    },
    logRetention: retention(get('logRetentionDays')),
    docs: flag('docs', get('docs')),
    jwtIssuer: issuerUrl(get('jwtIssuer')),
    jwtAudience: text('jwtAudience', TEXT_DEFAULTS.JWT_AUDIENCE),
    bcryptCost: bcryptCost(get('bcryptCost')),
    secretsGeneration: text('secretsGeneration', '1'),
    signingKeyRotationDays: rotationDays(get('signingKeyRotationDays')),
    limits: limits(get),
    mail: mailSettings(get),
    database:
      typeof databaseSecretName === 'string' && databaseSecretName !== ''
        ? { kind: 'existing', secretName: existingDatabase(get, databaseSecretName) }
        : {
            kind: 'neon',
            apiKeySecretName: text('neonApiKeySecretName', 'papa-auth/neon-api-key'),
            projectName: text('neonProjectName', stackName),
            regionId: neonRegion(get('neonRegion')),
            pgVersion: neonPgVersion(get('neonPgVersion')),
            orgId: get('neonOrgId') ? String(get('neonOrgId')) : undefined,
            compute: neonCompute(get),
            deleteOnRemoval: flag('neonDeleteOnRemoval', get('neonDeleteOnRemoval')),
          },
    loginProvisionedConcurrency: provisionedConcurrency(get('loginProvisionedConcurrency')),
  }
}

/**
 * `cdk synth` and `cdk deploy`: the one stack, checked by cdk-nag's AwsSolutions pack (a finding fails the synth).
 * `overrides` are for tests (another migration set).
 */
export function defineApp(app: App, overrides: Partial<AuthStackSettings> = {}): AuthStack {
  const stackName = String(app.node.tryGetContext('stackName') ?? DEFAULT_STACK_NAME)
  const stack = new AuthStack(app, stackName, {
    description: 'papa-auth: serverless authentication API (Lambda, API Gateway HTTP API, Neon Postgres)',
    settings: { ...readSettings(app.node), ...overrides },
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  })
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app))
  return stack
}

function importSecret(scope: Construct, id: string, nameOrArn: string): secretsmanager.ISecret {
  return nameOrArn.startsWith('arn:')
    ? secretsmanager.Secret.fromSecretCompleteArn(scope, id, nameOrArn)
    : secretsmanager.Secret.fromSecretNameV2(scope, id, nameOrArn)
}

/** Context `signingKeyRotationDays`: whole days, 1 to 1000 (Secrets Manager's range); 90 by default. */
function rotationDays(value: unknown): number {
  const days = positiveNumber('signingKeyRotationDays', value, 90)
  if (!Number.isInteger(days) || days > 1000)
    throw new Error('context signingKeyRotationDays must be a whole number of days from 1 to 1000')
  return days
}

function acknowledgeNoRotation(secret: secretsmanager.Secret, reason: string) {
  Validations.of(secret).acknowledge({ id: 'AwsSolutions-SMG4', reason })
}

const functionId = (name: string) =>
  name
    .split(/[^a-zA-Z0-9]+/)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('')

/** A digest of a folder's files (names and contents), stable across machines and checkouts. */
export function hashFolder(folder: string): string {
  const hash = createHash('sha256')
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    )) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else {
        hash.update(relative(folder, path).split('\\').join('/'))
        hash.update('\0')
        hash.update(readFileSync(path))
        hash.update('\0')
      }
    }
  }
  walk(folder)
  return hash.digest('hex')
}

/**
 * The `jwtIssuer` context: an https URL without a trailing slash (API Gateway's JWT authorizer fetches
 * `<issuer>/.well-known/openid-configuration` and compares `iss` with it exactly); unset, the API's own URL.
 */
function issuerUrl(value: unknown): string | undefined {
  if (value === undefined || value === '') return undefined
  const text = String(value)
  if (!/^https:\/\/[^\s/?#]+(\/[^\s?#]*[^\s?#/])?$/.test(text))
    throw new Error(
      `context jwtIssuer must be an https URL without a trailing slash, not ${JSON.stringify(text)}`,
    )
  return text
}

function flag(key: string, value: unknown): boolean {
  if (value === undefined || value === '' || value === false || value === 'false') return false
  if (value === true || value === 'true') return true
  throw new Error(`context ${key} must be true or false, not ${JSON.stringify(value)}`)
}

function positiveNumber(key: string, value: unknown, fallback: number): number {
  if (value === undefined || value === '') return fallback
  const number = Number(value)
  if (!Number.isFinite(number) || number <= 0) throw new Error(`context ${key} must be a positive number`)
  return number
}

/**
 * The limits and lifetimes a platform engineer may set as context, by context key: each the camelCase of its
 * setting, checked against that setting's range in `shared/platform/config.ts`. Unset keys keep the defaults.
 */
export const LIMIT_CONTEXT = {
  loginMaxFailures: 'LOGIN_MAX_FAILURES',
  loginWindowSeconds: 'LOGIN_WINDOW_SECONDS',
  loginIpMaxFailures: 'LOGIN_IP_MAX_FAILURES',
  loginIpWindowSeconds: 'LOGIN_IP_WINDOW_SECONDS',
  registerRateLimit: 'REGISTER_RATE_LIMIT',
  registerRateWindowSeconds: 'REGISTER_RATE_WINDOW_SECONDS',
  accessTokenTtlSeconds: 'ACCESS_TOKEN_TTL_SECONDS',
  refreshTokenTtlSeconds: 'REFRESH_TOKEN_TTL_SECONDS',
  sessionMaxAgeSeconds: 'SESSION_MAX_AGE_SECONDS',
  auditRetentionDays: 'AUDIT_RETENTION_DAYS',
  passwordResetTtlSeconds: 'PASSWORD_RESET_TTL_SECONDS',
  passwordResetEmailLimit: 'PASSWORD_RESET_EMAIL_LIMIT',
  passwordResetIpLimit: 'PASSWORD_RESET_IP_LIMIT',
  passwordResetWindowSeconds: 'PASSWORD_RESET_WINDOW_SECONDS',
} as const satisfies Record<string, keyof typeof INTEGER_SETTINGS>

type LimitSetting = (typeof LIMIT_CONTEXT)[keyof typeof LIMIT_CONTEXT]

function limits(get: (key: string) => unknown): Partial<Record<LimitSetting, number>> {
  const result: Partial<Record<LimitSetting, number>> = {}
  for (const [key, name] of Object.entries(LIMIT_CONTEXT)) {
    const value = get(key)
    if (value === undefined || value === '') continue
    const { min, max } = INTEGER_SETTINGS[name]
    const number = Number(value)
    if (!Number.isInteger(number) || number < min || number > max)
      throw new Error(`context ${key} must be a whole number from ${min} to ${max}`)
    result[name] = number
  }
  return result
}

/** The mail context keys, by the setting each becomes on the mail sender. */
const MAIL_SETTING_CONTEXT = {
  MAIL_FROM: 'mailFrom',
  PASSWORD_RESET_URL: 'passwordResetUrl',
  PRODUCT_NAME: 'productName',
} as const

/** An address SES can send from: a local part and a domain with at least one dot. */
const SENDER_ADDRESS =
  /^[^\s@<>()[\]\\,;:"]+@((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)$/i
const DOMAIN = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/i

/**
 * The mail context: `mailFrom` and `passwordResetUrl` together turn password reset mail on, checked with the rules
 * the mail sender applies to the same settings (`shared/platform/config.ts`), so a deploy cannot ship a value the
 * function would refuse; `sesIdentity` and `productName` refine them. None of them: no mail.
 */
function mailSettings(get: (key: string) => unknown): MailSettings | undefined {
  const given = (key: string) => {
    const value = get(key)
    const text = value === undefined ? '' : String(value).trim()
    return text === '' ? undefined : text
  }
  const from = given('mailFrom')
  const resetUrl = given('passwordResetUrl')
  const identity = given('sesIdentity')
  const product = given('productName')
  if (from === undefined && resetUrl === undefined) {
    const stray = [identity && 'sesIdentity', product && 'productName'].filter(Boolean)
    if (stray.length > 0)
      throw new Error(
        `context ${stray.join(' and ')} given without mailFrom and passwordResetUrl: set those two to send password reset mail`,
      )
    return undefined
  }
  if (from === undefined || resetUrl === undefined)
    throw new Error(
      `context ${from === undefined ? 'mailFrom' : 'passwordResetUrl'} is missing: mailFrom and passwordResetUrl go together (set both to send password reset mail, neither to send none)`,
    )

  // The service's own validation of the same settings: one rule for PASSWORD_RESET_URL (absolute http(s), `{token}`
  // once at most), here and in the function.
  let checked: ReturnType<typeof loadConfig>
  try {
    checked = loadConfig({ MAIL_FROM: from, PASSWORD_RESET_URL: resetUrl, PRODUCT_NAME: product }, [])
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    throw new Error(
      error.problems
        .map((problem) => {
          const [, setting = '', message = problem] = /^(\w+): (.*)$/.exec(problem) ?? []
          const key = MAIL_SETTING_CONTEXT[setting as keyof typeof MAIL_SETTING_CONTEXT]
          return key ? `context ${key}: ${message}, not ${JSON.stringify(given(key))}` : problem
        })
        .join('; '),
    )
  }

  // Parsed as nodemailer parses the From header it sends (and SES reads the sender from): exactly one mailbox.
  const parsed = addressparser(from)
  const mailbox = parsed.length === 1 && parsed[0]?.group === undefined ? parsed[0]?.address : undefined
  const domain = mailbox ? SENDER_ADDRESS.exec(mailbox)?.[1]?.toLowerCase() : undefined
  if (!mailbox || !domain)
    throw new Error(
      `context mailFrom must be one sender, "Name <address>" or an address, not ${JSON.stringify(from)}`,
    )

  const sesIdentity = identity ?? domain
  const covers = sesIdentity.includes('@')
    ? sesIdentity.toLowerCase() === mailbox.toLowerCase()
    : DOMAIN.test(sesIdentity) &&
      (domain === sesIdentity.toLowerCase() || domain.endsWith(`.${sesIdentity.toLowerCase()}`))
  if (!covers)
    throw new Error(
      `context sesIdentity ${JSON.stringify(sesIdentity)} does not cover the sender ${mailbox}: give the sender's address, its domain or a parent domain (the SES identity verified for it)`,
    )

  return {
    from: checked.MAIL_FROM ?? from,
    fromAddress: mailbox,
    sesIdentity,
    passwordResetUrl: checked.PASSWORD_RESET_URL ?? resetUrl,
    productName: checked.PRODUCT_NAME,
  }
}

function bcryptCost(value: unknown): number {
  const { default: fallback, min, max } = INTEGER_SETTINGS.BCRYPT_COST
  const cost = positiveNumber('bcryptCost', value, fallback)
  if (!Number.isInteger(cost) || cost < min || cost > max)
    throw new Error(`context bcryptCost must be ${min} to ${max}`)
  return cost
}

function retention(value: unknown): logs.RetentionDays {
  const days = positiveNumber('logRetentionDays', value, 30)
  const allowed = Object.values(logs.RetentionDays).filter(
    (entry): entry is number => typeof entry === 'number',
  )
  if (!allowed.includes(days)) {
    throw new Error(`context logRetentionDays must be one of ${allowed.filter((d) => d > 0).join(', ')}`)
  }
  return days as logs.RetentionDays
}

/** A list from cdk.json (an array) or the command line (`-c corsOrigins=https://a.example,https://b.example`). */
function origins(value: unknown): string[] {
  if (value === undefined || value === '') return []
  const list = Array.isArray(value)
    ? value.map(String)
    : String(value).trim().startsWith('[')
      ? (JSON.parse(String(value)) as unknown[]).map(String)
      : String(value).split(',')
  try {
    return parseCorsOrigins(list.join(','))
  } catch (error) {
    throw new Error(`context corsOrigins: ${(error as Error).message}`)
  }
}

/** Context `neonRegion`, when set: one of the regions Neon serves. */
function neonRegion(value: unknown): string | undefined {
  if (value === undefined || value === '') return undefined
  const problem = regionProblem(String(value))
  if (problem) throw new Error(`context neonRegion: ${problem}`)
  return String(value)
}

/** The Neon compute context: each key unset is Neon's default; the sizes go together (equal for a fixed size). */
function neonCompute(get: (key: string) => unknown): ComputeSettings | undefined {
  const given = (key: string) => {
    const value = get(key)
    return value === undefined || value === '' ? undefined : value
  }
  const suspend = given('neonSuspendTimeoutSeconds')
  const min = given('neonMinComputeUnits')
  const max = given('neonMaxComputeUnits')
  let suspendTimeoutSeconds: number | undefined
  if (suspend !== undefined) {
    suspendTimeoutSeconds = Number(suspend)
    const problem = suspendTimeoutProblem(suspendTimeoutSeconds, JSON.stringify(suspend))
    if (problem) throw new Error(`context neonSuspendTimeoutSeconds ${problem}`)
  }
  if ((min === undefined) !== (max === undefined))
    throw new Error(
      `context ${min === undefined ? 'neonMinComputeUnits' : 'neonMaxComputeUnits'} is missing: neonMinComputeUnits and neonMaxComputeUnits go together (equal for a fixed size, neither for Neon's)`,
    )
  let computeUnits: ComputeSettings['computeUnits']
  if (min !== undefined && max !== undefined) {
    computeUnits = { min: Number(min), max: Number(max) }
    const problem = computeUnitsProblem(computeUnits.min, computeUnits.max)
    if (problem)
      throw new Error(
        `context neonMinComputeUnits and neonMaxComputeUnits (${JSON.stringify(min)} to ${JSON.stringify(max)}): ${problem}`,
      )
  }
  if (suspendTimeoutSeconds === undefined && computeUnits === undefined) return undefined
  return {
    ...(suspendTimeoutSeconds === undefined ? {} : { suspendTimeoutSeconds }),
    ...(computeUnits === undefined ? {} : { computeUnits }),
  }
}

/** The secret of a database the stack does not create; the Neon compute context would do nothing there, so is refused. */
function existingDatabase(get: (key: string) => unknown, secretName: string): string {
  const stray = ['neonSuspendTimeoutSeconds', 'neonMinComputeUnits', 'neonMaxComputeUnits'].filter(
    (key) => get(key) !== undefined && get(key) !== '',
  )
  if (stray.length > 0)
    throw new Error(
      `context ${stray.join(' and ')} given with databaseSecretName: they set the compute of the Neon project the stack creates, and with your own database it creates none. Set them on your database instead.`,
    )
  return secretName
}

/**
 * Context `loginProvisionedConcurrency`: the environments kept initialized for each function of the login path, a
 * whole number from 0 (the default: none) to 100.
 */
function provisionedConcurrency(value: unknown): number {
  if (value === undefined || value === '') return 0
  const count = Number(value)
  if (!Number.isInteger(count) || count < 0 || count > MAX_PROVISIONED_CONCURRENCY)
    throw new Error(
      `context loginProvisionedConcurrency must be a whole number from 0 (none) to ${MAX_PROVISIONED_CONCURRENCY}, not ${JSON.stringify(value)}`,
    )
  return count
}

/** Context `neonPgVersion`: a Postgres major version Neon offers; 17 by default. */
function neonPgVersion(value: unknown): number {
  const version = positiveNumber('neonPgVersion', value, 17)
  const problem = pgVersionProblem(version)
  if (problem) throw new Error(`context neonPgVersion: ${problem}`)
  return version
}

/**
 * The Neon region of the project: the one given, else Neon's region of the stack's name. A stack bound to a region
 * is checked here, at synth. An environment-agnostic one (its region a token until deploy) gets a template rule
 * instead: CloudFormation checks it when the deploy starts, before it creates anything, and fails with the rule's
 * message. Synth stays possible without a region (CI, tests); a deploy to a region Neon lacks stops at once.
 */
function neonRegionOf(stack: Stack, given: string | undefined): string {
  if (given !== undefined) return given
  if (!Token.isUnresolved(stack.region)) {
    const problem = regionProblem(`aws-${stack.region}`)
    if (problem) {
      throw new Error(
        `the stack's region ${stack.region} has no Neon region of the same name: ${problem}. ` +
          'Set context neonRegion to the one nearest to the stack (-c neonRegion=<id>).',
      )
    }
    return `aws-${stack.region}`
  }
  new CfnRule(stack, 'NeonServesTheStackRegion', {
    assertions: [
      {
        assert: Fn.conditionContains(awsRegionsNeonServes(), Aws.REGION),
        assertDescription:
          `Neon has no region in this AWS region; it serves ${awsRegionsNeonServes().join(', ')} ` +
          '(https://neon.com/docs/introduction/regions). Deploy with -c neonRegion=<Neon region id> (the ' +
          'nearest one), or to one of those regions.',
      },
    ],
  })
  return `aws-${Aws.REGION}`
}
