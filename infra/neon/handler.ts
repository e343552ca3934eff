import {
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager'
import type { CloudFormationCustomResourceEvent } from 'aws-lambda'
import { logger } from '#shared/platform/logger'
import {
  type Branches,
  type ConnectionParameters,
  type CreatedProject,
  type CreatedRole,
  createNeonApi,
  type NeonApi,
  type Operation,
  type Roles,
} from './api.ts'
import { IMMUTABLE_PROPERTIES, type NeonProjectProperties, parseProperties } from './properties.ts'

/** What the provider framework expects back: the project id as the physical id, and nothing secret in `Data`. */
export interface NeonResourceResult {
  PhysicalResourceId: string
  Data?: { ProjectId: string }
}

export interface NeonHandlerOptions {
  secrets: SecretsManagerClient
  fetch?: typeof fetch
  retryDelayMs?: number
  pollIntervalMs?: number
  /** How long to wait for the new project's operations (branch, compute) before failing the deploy. */
  operationsTimeoutMs?: number
}

export interface ConnectionStrings {
  pooledUrl: string
  directUrl: string
}

/** A role's name and password: for the database secret, never for a log, an error or the resource's `Data`. */
export interface RoleLogin {
  name: string
  password: string
}

const DONE = new Set(['finished', 'skipped', 'cancelled'])
const FAILED = new Set(['failed', 'error'])

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * The Neon project resource's lifecycle. Create makes the project with its owner role, adds the API's role, and
 * writes the connection strings into the stack's database secret (`directUrl` as the owner, `pooledUrl` as the API's
 * role); Update renames it, adds the API's role if it is missing, and rewrites the secret; Delete keeps the project
 * unless the engineer opted in. Any failure throws with a readable reason, which the provider framework reports as a
 * failed deploy.
 */
export function createNeonHandler(options: NeonHandlerOptions) {
  const retryDelayMs = options.retryDelayMs ?? 1000
  const pollIntervalMs = options.pollIntervalMs ?? 2000
  const operationsTimeoutMs = options.operationsTimeoutMs ?? 240_000

  async function apiFor(props: NeonProjectProperties): Promise<NeonApi> {
    const apiKey = await readApiKey(options.secrets, props.ApiKeySecretId)
    return createNeonApi({ baseUrl: props.ApiUrl, apiKey, retryDelayMs, ...fetchOption(options) })
  }

  async function create(props: NeonProjectProperties): Promise<NeonResourceResult> {
    const neon = await apiFor(props)
    const created = await neon.request<CreatedProject>('POST', '/projects', {
      project: {
        name: props.ProjectName,
        region_id: props.RegionId,
        pg_version: Number(props.PgVersion),
        ...(props.OrgId ? { org_id: props.OrgId } : {}),
        branch: { database_name: props.DatabaseName, role_name: props.RoleName },
      },
    })
    const projectId = created.project.id
    logger.info('neon project created', { projectId, regionId: props.RegionId })
    try {
      await waitForOperations(neon, projectId, created.operations ?? [])
      const branchId = created.branch?.id
      if (!branchId) throw new Error(`Neon project ${projectId}: the API returned no branch`)
      const apiRole = hasApiRole(props)
        ? await createRole(neon, projectId, branchId, props.ApiRoleName)
        : undefined
      await writeConnectionStrings(
        options.secrets,
        props.DatabaseSecretArn,
        fromCreatedProject(created, props, apiRole),
      )
    } catch (error) {
      // The project never served anyone: remove it, so a retried deploy does not leave an orphan behind.
      await neon.request('DELETE', `/projects/${projectId}`).catch(() => undefined)
      logger.warn('neon project removed after a failed create', { projectId })
      throw error
    }
    return { PhysicalResourceId: projectId, Data: { ProjectId: projectId } }
  }

  async function update(
    projectId: string,
    props: NeonProjectProperties,
    old: NeonProjectProperties,
  ): Promise<NeonResourceResult> {
    for (const key of IMMUTABLE_PROPERTIES) {
      if ((props[key] ?? '') !== (old[key] ?? '')) {
        throw new Error(
          `${key} of the Neon project ${projectId} cannot change (${old[key] ?? 'unset'} to ${props[key] ?? 'unset'}): ` +
            'that would mean a new, empty database. Restore the old value, or create a new stack.',
        )
      }
    }
    const neon = await apiFor(props)
    if (props.ProjectName !== old.ProjectName) {
      await neon.request('PATCH', `/projects/${projectId}`, { project: { name: props.ProjectName } })
    }
    // A project made before the API had a role of its own gets one here, so its next deploy moves the API to it.
    if (hasApiRole(props)) await ensureRole(neon, projectId, props.ApiRoleName)
    // The secret may be a new one (replaced, or emptied by hand): write the strings again, from Neon, which keeps the
    // password of every role it made. So a deploy never resets one under the functions that are using it.
    const uri = (role: string, pooled: boolean) =>
      neon.request<{ uri: string }>(
        'GET',
        `/projects/${projectId}/connection_uri?${new URLSearchParams({
          database_name: props.DatabaseName,
          role_name: role,
          pooled: String(pooled),
        })}`,
      )
    const [direct, pooled] = await Promise.all([
      uri(props.RoleName, false),
      uri(props.ApiRoleName ?? props.RoleName, true),
    ])
    await writeConnectionStrings(options.secrets, props.DatabaseSecretArn, {
      pooledUrl: pooled.uri,
      directUrl: direct.uri,
    })
    logger.info('neon project updated', { projectId })
    return { PhysicalResourceId: projectId, Data: { ProjectId: projectId } }
  }

  async function remove(projectId: string, props: NeonProjectProperties): Promise<NeonResourceResult> {
    if (props.DeleteOnRemoval !== 'true') {
      logger.info('neon project retained', { projectId })
      return { PhysicalResourceId: projectId }
    }
    const neon = await apiFor(props)
    try {
      await neon.request('DELETE', `/projects/${projectId}`)
      logger.info('neon project deleted', { projectId })
    } catch (error) {
      if (!(error instanceof Error && 'status' in error && error.status === 404)) throw error
      logger.info('neon project already gone', { projectId })
    }
    return { PhysicalResourceId: projectId }
  }

  /** Adds the role to the project's default branch unless it is there already. */
  async function ensureRole(neon: NeonApi, projectId: string, name: string) {
    const { branches } = await neon.request<Branches>('GET', `/projects/${projectId}/branches`)
    const branch = branches.find((candidate) => candidate.default)
    if (!branch) throw new Error(`Neon project ${projectId}: the API returned no default branch`)
    const { roles } = await neon.request<Roles>('GET', `/projects/${projectId}/branches/${branch.id}/roles`)
    if (roles.some((role) => role.name === name)) return
    await createRole(neon, projectId, branch.id, name)
  }

  /**
   * Creates a login role and waits until it can connect. Neon makes every role its API creates a member of
   * neon_superuser (https://neon.com/docs/manage/roles), which reads and writes every table: this role keeps the
   * API's login apart from the owner's, but only a role created in SQL is held to `papa_auth_app`'s grants alone.
   */
  async function createRole(
    neon: NeonApi,
    projectId: string,
    branchId: string,
    name: string,
  ): Promise<RoleLogin> {
    const created = await neon.request<CreatedRole>(
      'POST',
      `/projects/${projectId}/branches/${branchId}/roles`,
      {
        role: { name },
      },
    )
    await waitForOperations(neon, projectId, created.operations ?? [])
    logger.info('neon role created', { projectId, role: name })
    return { name: created.role.name, password: created.role.password }
  }

  async function waitForOperations(neon: NeonApi, projectId: string, operations: Operation[]) {
    const deadline = Date.now() + operationsTimeoutMs
    let pending = operations.filter((operation) => !DONE.has(operation.status))
    while (pending.length > 0) {
      const failed = pending.find((operation) => FAILED.has(operation.status))
      if (failed) throw new Error(`Neon project ${projectId}: operation ${failed.id} ${failed.status}`)
      if (Date.now() > deadline) {
        throw new Error(
          `Neon project ${projectId}: operations still running after ${Math.round(operationsTimeoutMs / 1000)} s`,
        )
      }
      await sleep(pollIntervalMs)
      pending = await Promise.all(
        pending.map(async (operation) => {
          const { operation: current } = await neon.request<{ operation: Operation }>(
            'GET',
            `/projects/${projectId}/operations/${operation.id}`,
          )
          return current
        }),
      )
      pending = pending.filter((operation) => !DONE.has(operation.status))
    }
  }

  return async (event: CloudFormationCustomResourceEvent): Promise<NeonResourceResult> => {
    const props = parseProperties(event.ResourceProperties)
    switch (event.RequestType) {
      case 'Create':
        return create(props)
      case 'Update':
        return update(event.PhysicalResourceId, props, parseProperties(event.OldResourceProperties))
      case 'Delete':
        return remove(event.PhysicalResourceId, props)
    }
  }
}

const fetchOption = (options: NeonHandlerOptions) => (options.fetch ? { fetch: options.fetch } : {})

/** Whether the API connects as a role of its own; a resource from before that role existed names none. */
const hasApiRole = (props: NeonProjectProperties): props is NeonProjectProperties & { ApiRoleName: string } =>
  props.ApiRoleName !== undefined && props.ApiRoleName !== props.RoleName

/** The key as stored: the plain string, or the `apiKey` field of a JSON secret. */
async function readApiKey(secrets: SecretsManagerClient, secretId: string): Promise<string> {
  let value: string | undefined
  try {
    value = (await secrets.send(new GetSecretValueCommand({ SecretId: secretId }))).SecretString
  } catch (error) {
    throw new Error(`could not read the Neon API key from the secret ${secretId} (${errorName(error)})`)
  }
  let key = value?.trim() ?? ''
  if (key.startsWith('{')) key = apiKeyField(key)
  if (key === '') throw new Error(`the secret ${secretId} holds no Neon API key`)
  return key
}

function apiKeyField(json: string): string {
  try {
    const parsed = JSON.parse(json) as { apiKey?: unknown }
    return typeof parsed.apiKey === 'string' ? parsed.apiKey.trim() : ''
  } catch {
    // JSON.parse quotes its input in the message, and this input is the key.
    return ''
  }
}

/**
 * The strings for the new project's database: direct as the owner, pooled (the `-pooler` host) as the API's role when
 * it has one, else as the owner too.
 */
export function fromCreatedProject(
  created: CreatedProject,
  props: NeonProjectProperties,
  apiRole?: RoleLogin,
): ConnectionStrings {
  const uris = created.connection_uris ?? []
  const match =
    uris.find(
      (uri) =>
        uri.connection_parameters.role === props.RoleName &&
        uri.connection_parameters.database === props.DatabaseName,
    ) ?? uris[0]
  if (!match) throw new Error(`Neon project ${created.project.id}: the API returned no connection string`)
  const pooled = new URL(match.connection_uri)
  pooled.hostname = poolerHost(match.connection_parameters)
  if (apiRole) {
    pooled.username = apiRole.name
    pooled.password = apiRole.password
  }
  pooled.searchParams.set('sslmode', 'require')
  return { pooledUrl: pooled.toString(), directUrl: match.connection_uri }
}

const poolerHost = (params: ConnectionParameters) =>
  params.pooler_host || params.host.replace(/^([^.]+)/, '$1-pooler')

async function writeConnectionStrings(
  secrets: SecretsManagerClient,
  secretArn: string,
  strings: ConnectionStrings,
) {
  try {
    await secrets.send(
      new PutSecretValueCommand({ SecretId: secretArn, SecretString: JSON.stringify(strings) }),
    )
  } catch (error) {
    throw new Error(`could not write the connection strings to the secret ${secretArn} (${errorName(error)})`)
  }
}

const errorName = (error: unknown) => (error instanceof Error ? error.name : 'unknown error')

/** The deployed entry point: one Secrets Manager client per container. */
export const handler = createNeonHandler({ secrets: new SecretsManagerClient({}) })
