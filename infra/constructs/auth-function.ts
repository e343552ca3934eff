import { relative } from 'node:path'
import { AssetHashType, DockerImage, Duration, RemovalPolicy } from 'aws-cdk-lib'
import * as iam from 'aws-cdk-lib/aws-iam'
import * as lambda from 'aws-cdk-lib/aws-lambda'
import * as logs from 'aws-cdk-lib/aws-logs'
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager'
import { Construct } from 'constructs'
import { type FunctionName, lambdas } from '#functions/routes'
import { bundleFunction, repositoryRoot } from '#infra/bundling'

/** How a function's code is built: a bundler writing into CDK's output folder, and what identifies its inputs. */
export interface FunctionBundle {
  /** Names the bundle's inputs (entry, extra files) as paths from the repository root. */
  readonly key: string
  build(outdir: string): void
}

/** The bundle of `functions/<name>.ts`, as `bundleFunction` builds it for every other caller too. */
export const functionBundle = (name: string, migrationsFolder?: string): FunctionBundle => ({
  key: [
    `functions/${name}.ts`,
    ...(migrationsFolder ? [relative(repositoryRoot, migrationsFolder)] : []),
  ].join('+'),
  build: (outdir) => bundleFunction(name, outdir, migrationsFolder ? { migrationsFolder } : {}),
})

export interface AuthFunctionProps {
  /** The function's name in `functions/routes.ts`, or another label when `bundle` is given. */
  readonly name: string
  readonly memoryMb: number
  readonly timeout: Duration
  readonly logRetention: logs.RetentionDays
  readonly description?: string
  readonly environment?: Record<string, string>
  /** Defaults to the bundle of `functions/<name>.ts`. */
  readonly bundle?: FunctionBundle
}

/**
 * Every Lambda function of the service: Node 24 on arm64, its own esbuild bundle (source maps on), JSON logs into
 * its own log group with a retention, and a role that may write only to that log group until secrets are bound.
 */
export class AuthFunction extends Construct {
  readonly function: lambda.Function
  readonly logGroup: logs.LogGroup
  readonly role: iam.Role
  /** The `live` alias with provisioned concurrency, once `provision` made it; none by default. */
  private alias: lambda.Alias | undefined

  constructor(scope: Construct, id: string, props: AuthFunctionProps) {
    super(scope, id)
    const bundle = props.bundle ?? functionBundle(props.name)

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    })
    // An own role instead of AWSLambdaBasicExecutionRole, whose log permissions cover every log group.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `The ${props.name} function: its own log group, and the secrets bound to it`,
    })
    this.logGroup.grantWrite(this.role)

    this.function = new lambda.Function(this, 'Function', {
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      handler: 'index.handler',
      code: lambda.Code.fromAsset(repositoryRoot, {
        // The hash of the bundle itself: a function is updated exactly when what it runs changes.
        assetHashType: AssetHashType.OUTPUT,
        bundling: {
          // Never pulled: local bundling either succeeds or throws, so CDK never falls back to Docker.
          image: DockerImage.fromRegistry('local-bundling-only'),
          // Unused by a local bundler, but part of the key CDK caches staged assets by: without it, every function
          // (same source folder, same options) would get the first function's bundle.
          environment: { BUNDLE: bundle.key },
          local: {
            tryBundle(outputDir) {
              bundle.build(outputDir)
              return true
            },
          },
        },
      }),
      memorySize: props.memoryMb,
      timeout: props.timeout,
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      description: props.description ?? `papa-auth ${props.name}`,
      environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
    })
  }

  /**
   * What a caller (API Gateway) invokes: the `live` alias when the function has provisioned concurrency, so the
   * initialized environments are the ones that serve; the function itself (`$LATEST`) otherwise.
   */
  get entryPoint(): lambda.IFunction {
    return this.alias ?? this.function
  }

  /**
   * Keeps `count` execution environments initialized: a version published from the function's configuration (a new
   * one exactly when that changes: CDK names it by a hash of the configuration) and the `live` alias on it, which
   * carries the provisioned concurrency. Lambda's init (the runtime, the bundle's import, the secrets and the first
   * database connection) then runs before a request comes, not in it.
   *
   * The version is a child of the function, so whatever the function is ordered after (the migrations' trigger)
   * orders the version too; the alias refers to the version, so comes after it.
   */
  provision(count: number): lambda.Alias {
    if (this.alias) throw new Error(`${this.node.path} is provisioned already`)
    if (!Number.isInteger(count) || count < 1)
      throw new Error(
        `${this.node.path}: provisioned concurrency must be a whole number from 1, not ${count}`,
      )
    this.alias = new lambda.Alias(this, 'Live', {
      aliasName: 'live',
      version: this.function.currentVersion,
      provisionedConcurrentExecutions: count,
      description: `papa-auth: the version that serves, with ${count} environment(s) kept initialized`,
    })
    return this.alias
  }
}

/** A function's construct id: its name in `functions/routes.ts` in PascalCase (`seed-admin` → `SeedAdmin`). */
export const functionId = (name: string): string =>
  name
    .split(/[^a-zA-Z0-9]+/)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('')

/** A function of `functions/routes.ts`, as its table entry says: its id from its name, its memory and timeout. */
export function declaredFunction(
  scope: Construct,
  name: FunctionName,
  props: Omit<AuthFunctionProps, 'name' | 'memoryMb' | 'timeout'>,
): AuthFunction {
  const { memoryMb, timeoutSeconds } = lambdas[name]
  return new AuthFunction(scope, functionId(name), {
    name,
    memoryMb,
    timeout: Duration.seconds(timeoutSeconds),
    ...props,
  })
}

/**
 * Grants the function read access to a secret and sets the variable that names it, in one step, so a permission
 * and its setting cannot drift apart.
 */
export function bindSecret(fn: AuthFunction, secret: secretsmanager.ISecret, variable: string): void {
  secret.grantRead(fn.function)
  // An imported-by-name secret has only a partial ARN, which Secrets Manager may match loosely: use its name.
  fn.function.addEnvironment(variable, secret.secretFullArn ?? secret.secretName)
}
