import { relative } from 'node:path'
import { AssetHashType, DockerImage, type Duration, RemovalPolicy } from 'aws-cdk-lib'
import * as iam from 'aws-cdk-lib/aws-iam'
import * as lambda from 'aws-cdk-lib/aws-lambda'
import * as logs from 'aws-cdk-lib/aws-logs'
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager'
import { Construct } from 'constructs'
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
