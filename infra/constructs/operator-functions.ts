import { createHash } from 'node:crypto'
import { cpSync, readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { Aws, CfnOutput, CfnResource, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib'
import * as events from 'aws-cdk-lib/aws-events'
import * as eventTargets from 'aws-cdk-lib/aws-events-targets'
import * as iam from 'aws-cdk-lib/aws-iam'
import * as logs from 'aws-cdk-lib/aws-logs'
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager'
import { InvocationType, Trigger } from 'aws-cdk-lib/triggers'
import type { Construct } from 'constructs'
import { lambdas } from '#functions/routes'
import { bundleFunction, MIGRATIONS_FOLDER, repositoryRoot } from '#infra/bundling'
import { type AuthFunction, bindSecret, declaredFunction, functionBundle } from './auth-function.ts'
import { keepLogicalIdNamedAfter, StackPart } from './stack-part.ts'

export interface OperatorFunctionsProps {
  /** The database secret: every function here reads it. */
  readonly databaseSecret: secretsmanager.ISecret
  /** What creates the database (the Neon project), which the migrations wait for; none for a database brought along. */
  readonly databaseProvisioner?: Construct | undefined
  /** The settings the API functions run with, for the cleanup (their limits and lifetimes). */
  readonly environment: Record<string, string>
  readonly adminEmail: string
  readonly bcryptCost: number
  readonly secretsGeneration: string
  readonly logRetention: logs.RetentionDays
  /** Minutes between two cleanup runs (context `cleanupIntervalMinutes`). */
  readonly cleanupIntervalMinutes: number
  /** The migrations migrate and cutover carry; the committed ones unless a test says otherwise. */
  readonly migrationsFolder?: string | undefined
}

/**
 * The functions no route reaches (`invokedBy` in `functions/routes.ts`): `migrate`, run by the deploy through a
 * Trigger before any function that queries the database is updated; `seed-admin` and `cutover`, invoked by an operator
 * (the commands are outputs); `cleanup`, every `cleanupIntervalMinutes`. Each is sized as the table says and reads the database secret.
 */
export class OperatorFunctions extends StackPart {
  readonly migrate: AuthFunction
  readonly seedAdmin: AuthFunction
  readonly cutover: AuthFunction
  readonly cleanup: AuthFunction
  /**
   * Runs the migrate function's current version whenever it changes (new migrations change its bundle and its
   * description), after the database exists; `executeBefore` each function that queries it. The migrate handler
   * throws on failure, which fails the deploy and rolls it back with the old functions still in place. The rollback
   * runs the previous version again (the Trigger's Update, invoked with no event), which finds its stack rolling back
   * and does nothing.
   */
  readonly migration: Trigger

  constructor(scope: Construct, id: string, props: OperatorFunctionsProps) {
    super(scope, id)
    const { logRetention, secretsGeneration } = props
    const migrationsFolder = props.migrationsFolder ?? MIGRATIONS_FOLDER
    const migrationSet = hashFolder(migrationsFolder).slice(0, 16)

    this.migrate = declaredFunction(this, 'migrate', {
      logRetention,
      // The hash makes the migration set visible on the function, and a new set a new version (so a new run).
      description: `papa-auth migrate: applies migration set ${migrationSet}`,
      // Its stack, whose status it reads: while the stack rolls back, migrate does nothing and succeeds.
      environment: { SECRETS_GENERATION: secretsGeneration, STACK_ID: Aws.STACK_ID },
      bundle: functionBundle('migrate', props.migrationsFolder),
    })
    this.migrate.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['cloudformation:DescribeStacks'], resources: [Aws.STACK_ID] }),
    )

    const adminPassword = new secretsmanager.Secret(this, 'AdminPassword', {
      description: `${Stack.of(this).stackName}: the password of the admin account that seed-admin creates (generated at deploy)`,
      generateSecretString: { passwordLength: 32, excludePunctuation: true },
    })
    Validations.of(adminPassword).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        "Read only by seed-admin, once, to create the admin account: rotating the secret afterwards would not change the account's password.",
    })
    this.seedAdmin = declaredFunction(this, 'seed-admin', {
      logRetention,
      environment: {
        ADMIN_EMAIL: props.adminEmail,
        BCRYPT_COST: String(props.bcryptCost),
        SECRETS_GENERATION: secretsGeneration,
      },
    })

    // Carries the FastAPI backend's users over, once, when an operator invokes it (docs/deploying.md, Carrying over
    // the FastAPI database). Like migrate, whose work it includes: the database secret only (directUrl, and pooledUrl
    // for the API role it then aligns), and the migration set in its bundle.
    this.cutover = declaredFunction(this, 'cutover', {
      logRetention,
      description: `papa-auth cutover: carries the FastAPI users over, with migration set ${migrationSet}`,
      environment: { SECRETS_GENERATION: secretsGeneration },
      bundle: {
        key: `functions/cutover.ts+${relative(repositoryRoot, migrationsFolder)}`,
        build: (outdir) => {
          bundleFunction('cutover', outdir)
          cpSync(migrationsFolder, join(outdir, 'migrations'), { recursive: true })
        },
      },
    })

    // Deletes what no rule reads any more (expired tokens and sessions, passed windows, old audit events), every
    // `cleanupIntervalMinutes`: the shorter the interval, the smaller each run (docs/performance.md, "At scale").
    this.cleanup = declaredFunction(this, 'cleanup', { logRetention, environment: props.environment })
    const every = props.cleanupIntervalMinutes
    const schedule = new events.Rule(this, 'CleanupSchedule', {
      description: `papa-auth: runs the cleanup function every ${every} minutes`,
      schedule: events.Schedule.rate(Duration.minutes(every)),
      targets: [new eventTargets.LambdaFunction(this.cleanup.function, { retryAttempts: 2 })],
    })
    keepLogicalIdNamedAfter(schedule, 'AllowEventRule', this.cleanup.function)

    for (const fn of [this.migrate, this.seedAdmin, this.cutover, this.cleanup])
      bindSecret(fn, props.databaseSecret, 'DATABASE_SECRET_ARN')
    bindSecret(this.seedAdmin, adminPassword, 'ADMIN_PASSWORD_SECRET_ARN')

    this.migration = new Trigger(this, 'MigrateOnDeploy', {
      handler: this.migrate.function,
      invocationType: InvocationType.REQUEST_RESPONSE,
      timeout: Duration.seconds(lambdas.migrate.timeoutSeconds),
      executeAfter: props.databaseProvisioner ? [props.databaseProvisioner] : [],
      executeBefore: [this.seedAdmin.function, this.cleanup.function],
    })
    this.triggerProviderLogs(logRetention)

    const invoke = (fn: AuthFunction, payload: string, file: string, options = '') =>
      `aws lambda invoke --function-name ${fn.function.functionName} --region ${Aws.REGION} --cli-binary-format raw-in-base64-out ${options}--payload '${payload}' ${file} && cat ${file}`
    new CfnOutput(this, 'MigrateFunctionName', { value: this.migrate.function.functionName })
    new CfnOutput(this, 'SeedAdminCommand', {
      description: 'Creates the admin account (or leaves an existing one unchanged); prints the outcome',
      value: invoke(this.seedAdmin, '{}', 'seed-admin-result.json'),
    })
    new CfnOutput(this, 'AdminPasswordCommand', {
      description: "Prints the admin's generated password (the value never leaves Secrets Manager otherwise)",
      value: `aws secretsmanager get-secret-value --secret-id ${adminPassword.secretArn} --region ${Aws.REGION} --query SecretString --output text`,
    })
    const cutover = (payload: string, file: string) =>
      invoke(this.cutover, payload, file, '--cli-read-timeout 0 ')
    new CfnOutput(this, 'CutoverDryRunCommand', {
      description:
        'Reports every FastAPI user that cannot be carried over as it is (JSON), changing nothing (docs/deploying.md)',
      value: cutover('{"apply":false}', 'cutover-dry-run.json'),
    })
    new CfnOutput(this, 'CutoverApplyCommand', {
      description:
        'Carries the FastAPI users over: keep one value of each choice the dry run asks for and drop the keys it does not; a placeholder left as it is is refused',
      value: cutover(
        '{"apply":true,"emailCollisions":"merge|deactivate","usernameCollisions":"rename|clear","invalidEmails":"deactivate"}',
        'cutover-apply.json',
      ),
    })
  }

  /**
   * CDK's trigger provider is a stack singleton that lets Lambda create its log group, with no retention: point it at
   * one of ours instead, like every other function.
   */
  private triggerProviderLogs(retention: logs.RetentionDays) {
    const provider = Stack.of(this).node.tryFindChild(
      'AWSCDK.TriggerCustomResourceProviderCustomResourceProvider',
    )
    const handler = provider?.node.tryFindChild('Handler')
    if (!(handler instanceof CfnResource))
      throw new Error('the trigger provider has moved: update OperatorFunctions')
    const logGroup = new logs.LogGroup(this, 'TriggerProviderLogs', {
      retention,
      removalPolicy: RemovalPolicy.DESTROY,
    })
    handler.addPropertyOverride('LoggingConfig', { LogGroup: logGroup.logGroupName, LogFormat: 'JSON' })
  }
}

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
