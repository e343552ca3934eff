import {
  Annotations,
  Aspects,
  Aws,
  CfnResource,
  CfnRule,
  CustomResource,
  Duration,
  Fn,
  type IAspect,
  RemovalPolicy,
  Stack,
  Token,
  Validations,
} from 'aws-cdk-lib'
import * as iam from 'aws-cdk-lib/aws-iam'
import type * as lambda from 'aws-cdk-lib/aws-lambda'
import * as logs from 'aws-cdk-lib/aws-logs'
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager'
import * as cr from 'aws-cdk-lib/custom-resources'
import { Construct, type IConstruct } from 'constructs'
import { bundleEntry } from '#infra/bundling'
import { NEON_API_URL } from '#infra/neon/api'
import { type ComputeSettings, computeUnitsProblem, suspendTimeoutProblem } from '#infra/neon/compute'
import { historyRetentionProblem } from '#infra/neon/history'
import {
  IN_SERVICE_RESOURCE_TYPE,
  type InServiceProperties,
  NEON_HANDLER_TIMEOUT_MS,
  type NeonProjectProperties,
} from '#infra/neon/properties'
import { awsRegionsNeonServes, pgVersionProblem, regionProblem } from '#infra/neon/regions'
import { AuthFunction } from './auth-function.ts'

export interface NeonDatabaseProps {
  /** The stack's database secret: the resource writes the connection strings into it, and nothing else does. */
  readonly databaseSecret: secretsmanager.ISecret
  /** The engineer's secret holding the Neon API key. */
  readonly apiKeySecret: secretsmanager.ISecret
  readonly projectName: string
  /**
   * Neon's region id, fixed for the project's life; one of `NEON_REGIONS` (checked here when it is not a token).
   * Unset: Neon's region of the stack's name (`aws-<region>`), checked as `regionOf` says.
   */
  readonly regionId?: string | undefined
  /** The Postgres major version, fixed for the project's life; one Neon offers (checked here). */
  readonly pgVersion: number
  readonly databaseName: string
  /** The role made with the project: it owns the database, and `directUrl` (the migrations) connects as it. */
  readonly roleName: string
  /**
   * The role the API functions connect as (`pooledUrl`): a login of its own, never the owner's. The resource picks
   * its password; migrate creates the role with SQL.
   */
  readonly apiRoleName: string
  /** The role the cleanup function connects as (`cleanupUrl`): picked and created like the API's. */
  readonly cleanupRoleName: string
  readonly orgId?: string | undefined
  /**
   * The compute's suspend timeout and size (checked here); each unset one is Neon's default at creation and left to
   * Neon on update. A change is made in place on the existing compute, never by a new project.
   */
  readonly compute?: ComputeSettings | undefined
  /**
   * How far back the project keeps its history, in seconds (checked here): given at creation and set in place later.
   * Unset: the plan's default (6 hours on Free, 1 day on paid plans), and left as it is.
   */
  readonly historyRetentionSeconds?: number | undefined
  /**
   * A project this stack put in service before and kept when it was deleted: its Create takes that one back (checked
   * by the handler) instead of making one.
   */
  readonly adoptProjectId?: string | undefined
  readonly deleteOnRemoval: boolean
  readonly logRetention: logs.RetentionDays
  readonly apiUrl?: string
}

/**
 * A Neon project made by a Lambda-backed custom resource (handler in `infra/neon/`). The connection strings travel
 * from Neon's API (and the handler, for the API role's password) straight into the database secret; no password is a
 * property, an attribute or an output. A second resource, after every other one of the stack, puts the project in
 * service (its configured name) once the deploy that created it has completed: until then a rollback removes it.
 */
export class NeonDatabase extends Construct {
  readonly resource: CustomResource
  /** The in-service step: created after every other resource of the stack. */
  readonly inService: CustomResource
  readonly projectId: string
  readonly handler: AuthFunction

  constructor(scope: Construct, id: string, props: NeonDatabaseProps) {
    super(scope, id)
    const regionId = props.regionId ?? regionOf(Stack.of(this))
    // Refused at synth rather than by Neon at deploy, after the secrets and functions exist.
    const { suspendTimeoutSeconds, computeUnits } = props.compute ?? {}
    const suspendProblem =
      suspendTimeoutSeconds === undefined ? undefined : suspendTimeoutProblem(suspendTimeoutSeconds)
    const unitsProblem = computeUnits && computeUnitsProblem(computeUnits.min, computeUnits.max)
    const { historyRetentionSeconds: history } = props
    const historyProblem = history === undefined ? undefined : historyRetentionProblem(history)
    const problems = [
      Token.isUnresolved(regionId) ? undefined : regionProblem(regionId),
      pgVersionProblem(props.pgVersion),
      suspendProblem && `suspend timeout ${suspendProblem}`,
      unitsProblem && `compute units: ${unitsProblem}`,
      historyProblem && `history retention ${historyProblem}`,
    ].filter((problem) => problem !== undefined)
    if (problems.length > 0) throw new Error(`NeonDatabase ${this.node.path}: ${problems.join('; ')}`)
    if (history === 0)
      Annotations.of(this).addWarningV2(
        'papa-auth:no-history',
        'neonHistoryRetentionSeconds is 0: Neon keeps no history, so the database cannot be restored to an earlier ' +
          'time (docs/deploying.md, Backups and restore).',
      )

    this.handler = new AuthFunction(this, 'Handler', {
      name: 'neon-project',
      memoryMb: 256,
      // Room for Neon's retries and for the new project's operations to finish; the handler plans its calls to
      // answer within it, whatever Neon does.
      timeout: Duration.millis(NEON_HANDLER_TIMEOUT_MS),
      logRetention: props.logRetention,
      description:
        'papa-auth: creates (or takes back), renames, sets the history window and compute of, puts in service and (on opt-in, or when never in service) deletes the Neon project',
      bundle: {
        key: 'infra/neon/handler.ts',
        build: (outdir) => bundleEntry('infra/neon/handler.ts', outdir),
      },
    })
    props.apiKeySecret.grantRead(this.handler.function)
    // Writes the strings, and reads them back only so an update keeps the API role's password. No DescribeSecret,
    // no other secret: not `grantRead`, which would add more than the handler uses.
    this.handler.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue'],
        resources: [props.databaseSecret.secretArn],
      }),
    )

    const provider = new cr.Provider(this, 'Provider', {
      onEventHandler: this.handler.function,
      logGroup: new logs.LogGroup(this, 'ProviderLogs', {
        retention: props.logRetention,
        removalPolicy: RemovalPolicy.DESTROY,
      }),
    })
    acknowledgeProviderFramework(provider, this.handler.function)

    const properties: NeonProjectProperties = {
      ApiUrl: props.apiUrl ?? NEON_API_URL,
      ApiKeySecretId: props.apiKeySecret.secretFullArn ?? props.apiKeySecret.secretName,
      DatabaseSecretArn: props.databaseSecret.secretArn,
      ProjectName: props.projectName,
      RegionId: regionId,
      PgVersion: String(props.pgVersion),
      DatabaseName: props.databaseName,
      RoleName: props.roleName,
      ApiRoleName: props.apiRoleName,
      CleanupRoleName: props.cleanupRoleName,
      ...(props.orgId ? { OrgId: props.orgId } : {}),
      // Only what is given: a stack without these keys keeps exactly the properties (and the compute) it had.
      ...(suspendTimeoutSeconds === undefined
        ? {}
        : { SuspendTimeoutSeconds: String(suspendTimeoutSeconds) }),
      ...(computeUnits
        ? { MinComputeUnits: String(computeUnits.min), MaxComputeUnits: String(computeUnits.max) }
        : {}),
      ...(history === undefined ? {} : { HistoryRetentionSeconds: String(history) }),
      ...(props.adoptProjectId ? { AdoptProjectId: props.adoptProjectId } : {}),
      DeleteOnRemoval: String(props.deleteOnRemoval),
    }
    // Deletion always reaches the handler, which keeps the project unless DeleteOnRemoval is true: so the choice
    // can be changed by a later deploy, which a CloudFormation DeletionPolicy could not.
    this.resource = new CustomResource(this, 'Project', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::NeonProject',
      properties,
    })
    this.projectId = this.resource.getAttString('ProjectId')

    const inService: InServiceProperties = {
      ApiUrl: properties.ApiUrl,
      ApiKeySecretId: properties.ApiKeySecretId,
      ProjectId: this.projectId,
      ProjectName: props.projectName,
    }
    // In the stack's scope, not this construct's: what depends on the database (migrate) must not depend on it.
    this.inService = new CustomResource(Stack.of(this), `${id}InService`, {
      serviceToken: provider.serviceToken,
      resourceType: IN_SERVICE_RESOURCE_TYPE,
      properties: inService,
    })
    // This construct's resources come before it already, through the project id it reads and the provider it calls.
    Aspects.of(Stack.of(this)).add(new AfterEverything(this.inService, this))
  }
}

/**
 * Neon's region of the stack's own name. A stack bound to a region is checked here, at synth. An environment-agnostic
 * one (its region a token until deploy) gets a template rule instead: CloudFormation checks it when the deploy starts,
 * before it creates anything, and fails with the rule's message. Synth stays possible without a region (CI, tests); a
 * deploy to a region Neon lacks stops at once.
 */
function regionOf(stack: Stack): string {
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

/**
 * Makes a resource depend on every other resource of its stack, so CloudFormation creates it last: when it runs, the
 * deploy has nothing left that can fail. Left out: resources under a condition (a dependency on one that is not
 * created would be an error), the resource's own children, and those under `implied`, which it follows already.
 */
class AfterEverything implements IAspect {
  readonly last: CustomResource
  readonly implied: IConstruct
  constructor(last: CustomResource, implied: IConstruct) {
    this.last = last
    this.implied = implied
  }

  visit(node: IConstruct) {
    if (!(node instanceof CfnResource) || node.cfnOptions.condition !== undefined) return
    if (node.cfnResourceType === 'AWS::CDK::Metadata') return
    if (node.node.scopes.includes(this.last) || node.node.scopes.includes(this.implied)) return
    if (Stack.of(node) !== Stack.of(this.last)) return
    this.last.node.addDependency(node)
  }
}

/** The provider framework's own function is CDK's code and role; what cdk-nag finds there is by its design. */
function acknowledgeProviderFramework(provider: cr.Provider, handler: lambda.Function) {
  const handlerLogicalId = Stack.of(handler).getLogicalId(handler.node.defaultChild as lambda.CfnFunction)
  const validations = Validations.of(provider)
  validations.acknowledge({
    id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    reason:
      "The custom-resource provider framework's function (CDK's code) uses AWSLambdaBasicExecutionRole for its logs; it holds no secret and calls only the Neon handler.",
  })
  validations.acknowledge({
    id: `AwsSolutions-IAM5[Resource::<${handlerLogicalId}.Arn>:*]`,
    reason:
      'The provider framework may invoke any version of the one Neon handler function (`<arn>:*`); CDK grants it so, and nothing broader.',
  })
}
