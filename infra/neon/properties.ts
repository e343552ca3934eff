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
  /** The stack's database secret, which receives `{"pooledUrl", "directUrl"}`; Update reads the API's password back. */
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
  /** The Neon organization to create the project in; required by Neon for a personal API key. */
  OrgId?: string
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
    ...optional(raw, 'OrgId'),
    DeleteOnRemoval: String(raw.DeleteOnRemoval ?? 'false'),
  }
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

const optional = (raw: Record<string, unknown>, key: 'ApiRoleName' | 'OrgId') => {
  const value = raw[key]
  return typeof value === 'string' && value !== '' ? { [key]: value } : {}
}
