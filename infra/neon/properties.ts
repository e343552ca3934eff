import { computeUnitsProblem, suspendTimeoutProblem } from './compute.ts'
import { historyRetentionProblem } from './history.ts'

/**
 * The Neon project resource's properties, shared by the construct that writes them and the handler that reads them.
 * None is a secret: the API key stays in Secrets Manager (named here), and the connection strings go straight into
 * the database secret (named here), never through CloudFormation.
 */
export interface NeonProjectProperties {
  /** The Neon API's base URL. */
  ApiUrl: string
  /** The name or ARN of the secret that holds the engineer's Neon API key. */
  ApiKeySecretId: string
  /**
   * The stack's database secret, which receives `{"pooledUrl", "directUrl", "cleanupUrl"}`; Update reads the API's and
   * the cleanup's passwords back.
   */
  DatabaseSecretArn: string
  ProjectName: string
  /** Neon's region id, e.g. `aws-eu-central-1`. Fixed, like PgVersion, OrgId, DatabaseName and RoleName. */
  RegionId: string
  PgVersion: string
  DatabaseName: string
  /** The role created with the project, which owns the database: the migrations connect as it (`directUrl`). */
  RoleName: string
  /**
   * The role the API functions connect as (`pooledUrl`): the resource picks its password, and migrate creates it with
   * SQL. Unset on a resource from before it existed, which is also what a rollback to such a stack delivers: then the
   * owner serves both strings, as it did.
   */
  ApiRoleName?: string
  /**
   * The role the cleanup function connects as (`cleanupUrl`, on the pooler): picked and created like the API's.
   * Unset on a resource from before it: the secret then holds no `cleanupUrl`, and the cleanup connects as the owner.
   */
  CleanupRoleName?: string
  /** The Neon organization to create the project in; required by Neon for a personal API key. */
  OrgId?: string
  /**
   * The compute's `suspend_timeout_seconds` (`0` Neon's default, `-1` never, or 60 to 604800): given at creation,
   * and set on the project's compute by an update that finds it otherwise. Unset on a resource from before it (or
   * without the context): Neon's default at creation, and an update leaves the compute's value alone, unless the
   * resource had one before, which then goes back to Neon's default (`0`).
   */
  SuspendTimeoutSeconds?: string
  /**
   * The compute's `autoscaling_limit_min_cu` and `autoscaling_limit_max_cu`, both or neither: given at creation, and
   * set on the compute by an update that finds it otherwise. Unset: Neon's sizes at creation, and an update leaves the
   * compute's sizes as they are (Neon has no value that means its default size).
   */
  MinComputeUnits?: string
  MaxComputeUnits?: string
  /**
   * The project's `history_retention_seconds` (0 to 2592000): how far back a branch can be made or restored. Given at
   * creation, and set on the project by an update that finds it otherwise. Unset: the plan's default at creation, and
   * an update leaves the project's window as it is (Neon has no value that means its default).
   */
  HistoryRetentionSeconds?: string
  /**
   * A project to take back on Create instead of making one: one this stack put in service under `ProjectName`, kept
   * when the stack was deleted (DeleteOnRemoval false). Create checks that it carries that name and the fixed
   * properties; an Update refuses any other project than its own.
   */
  AdoptProjectId?: string
  /**
   * `true` deletes the project (and every row in it) when the stack or the resource is deleted. Otherwise it is kept,
   * unless it never went into service (the rollback of the deploy that created it).
   */
  DeleteOnRemoval: string
}

/** The handler's Lambda timeout; the handler plans every call to answer within it. */
export const NEON_HANDLER_TIMEOUT_MS = 5 * 60_000

/** The custom resource type of the step that puts the project in service, at the end of every deploy that creates it. */
export const IN_SERVICE_RESOURCE_TYPE = 'Custom::NeonProjectInService'

/**
 * The in-service step's properties: it gives the project its configured name, which tells Delete the project is in
 * service (see `handler.ts`).
 */
export interface InServiceProperties {
  ApiUrl: string
  ApiKeySecretId: string
  ProjectId: string
  ProjectName: string
}

const REQUIRED: (keyof NeonProjectProperties)[] = [
  'ApiUrl',
  'ApiKeySecretId',
  'DatabaseSecretArn',
  'ProjectName',
  'RegionId',
  'PgVersion',
  'DatabaseName',
  'RoleName',
]

/** The properties as CloudFormation delivers them (every value a string), checked; throws naming what is missing. */
export function parseProperties(raw: Record<string, unknown>): NeonProjectProperties {
  const missing = REQUIRED.filter((key) => typeof raw[key] !== 'string' || raw[key] === '')
  if (missing.length > 0) throw new Error(`Neon project resource: missing properties ${missing.join(', ')}`)
  if (!/^\d+$/.test(String(raw.PgVersion)))
    throw new Error('Neon project resource: PgVersion must be a number')
  const text = (key: keyof NeonProjectProperties) => String(raw[key])
  return {
    ApiUrl: text('ApiUrl'),
    ApiKeySecretId: text('ApiKeySecretId'),
    DatabaseSecretArn: text('DatabaseSecretArn'),
    ProjectName: text('ProjectName'),
    RegionId: text('RegionId'),
    PgVersion: text('PgVersion'),
    DatabaseName: text('DatabaseName'),
    RoleName: text('RoleName'),
    ...optional(raw, 'ApiRoleName'),
    ...optional(raw, 'CleanupRoleName'),
    ...optional(raw, 'OrgId'),
    ...computeProperties(raw),
    ...historyProperty(raw),
    ...optional(raw, 'AdoptProjectId'),
    DeleteOnRemoval: String(raw.DeleteOnRemoval ?? 'false'),
  }
}

/** The compute settings, checked as the synth checks them: a resource never asks Neon for what it cannot offer. */
function computeProperties(raw: Record<string, unknown>) {
  const { SuspendTimeoutSeconds, MinComputeUnits, MaxComputeUnits } = {
    ...optional(raw, 'SuspendTimeoutSeconds'),
    ...optional(raw, 'MinComputeUnits'),
    ...optional(raw, 'MaxComputeUnits'),
  }
  if (SuspendTimeoutSeconds !== undefined) {
    const problem = /^-?\d+$/.test(SuspendTimeoutSeconds)
      ? suspendTimeoutProblem(Number(SuspendTimeoutSeconds), SuspendTimeoutSeconds)
      : `must be a whole number of seconds, not ${JSON.stringify(SuspendTimeoutSeconds)}`
    if (problem) throw new Error(`Neon project resource: SuspendTimeoutSeconds ${problem}`)
  }
  if ((MinComputeUnits === undefined) !== (MaxComputeUnits === undefined))
    throw new Error('Neon project resource: MinComputeUnits and MaxComputeUnits go together')
  if (MinComputeUnits !== undefined && MaxComputeUnits !== undefined) {
    const number = /^\d+(\.\d+)?$/
    const problem =
      number.test(MinComputeUnits) && number.test(MaxComputeUnits)
        ? computeUnitsProblem(Number(MinComputeUnits), Number(MaxComputeUnits))
        : 'must be numbers of compute units'
    if (problem) throw new Error(`Neon project resource: MinComputeUnits and MaxComputeUnits: ${problem}`)
  }
  return {
    ...(SuspendTimeoutSeconds === undefined ? {} : { SuspendTimeoutSeconds }),
    ...(MinComputeUnits === undefined ? {} : { MinComputeUnits }),
    ...(MaxComputeUnits === undefined ? {} : { MaxComputeUnits }),
  }
}

/** The history retention, checked as the synth checks it. */
function historyProperty(raw: Record<string, unknown>) {
  const { HistoryRetentionSeconds } = optional(raw, 'HistoryRetentionSeconds')
  if (HistoryRetentionSeconds === undefined) return {}
  const problem = /^\d+$/.test(HistoryRetentionSeconds)
    ? historyRetentionProblem(Number(HistoryRetentionSeconds))
    : `must be a whole number of seconds, not ${JSON.stringify(HistoryRetentionSeconds)}`
  if (problem) throw new Error(`Neon project resource: HistoryRetentionSeconds ${problem}`)
  return { HistoryRetentionSeconds }
}

/** The in-service step's properties, checked like the project's. */
export function parseInServiceProperties(raw: Record<string, unknown>): InServiceProperties {
  const keys = ['ApiUrl', 'ApiKeySecretId', 'ProjectId', 'ProjectName'] as const
  const missing = keys.filter((key) => typeof raw[key] !== 'string' || raw[key] === '')
  if (missing.length > 0)
    throw new Error(`Neon in-service resource: missing properties ${missing.join(', ')}`)
  const text = (key: (typeof keys)[number]) => String(raw[key])
  return {
    ApiUrl: text('ApiUrl'),
    ApiKeySecretId: text('ApiKeySecretId'),
    ProjectId: text('ProjectId'),
    ProjectName: text('ProjectName'),
  }
}

type OptionalKey =
  | 'ApiRoleName'
  | 'CleanupRoleName'
  | 'OrgId'
  | 'SuspendTimeoutSeconds'
  | 'MinComputeUnits'
  | 'MaxComputeUnits'
  | 'HistoryRetentionSeconds'
  | 'AdoptProjectId'

const optional = <K extends OptionalKey>(raw: Record<string, unknown>, key: K): { [P in K]?: string } => {
  const value = raw[key]
  return typeof value === 'string' && value !== '' ? ({ [key]: value } as { [P in K]?: string }) : {}
}
