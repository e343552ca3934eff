import { randomBytes } from 'node:crypto'
import {
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager'
import type { CloudFormationCustomResourceEvent } from 'aws-lambda'
import { logger } from '#shared/platform/logger'
import {
  type ConnectionParameters,
  type CreatedProject,
  createNeonApi,
  type NeonApi,
  type Operation,
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
 * The Neon project resource's lifecycle. Create makes the project with its owner role, picks the password of the
 * API's role, and writes the connection strings into the stack's database secret (`directUrl` as the owner,
 * `pooledUrl` as the API's role); Update renames it and rewrites the secret, keeping the API's password; Delete keeps
 * the project unless the engineer opted in. The API's role is never made here: migrate creates it with SQL from
 * `pooledUrl`, so it holds only `papa_auth_app`'s grants (a role made through Neon's API joins `neon_superuser`).
 * Any failure throws with a readable reason, which the provider framework reports as a failed deploy.
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
      const apiRole = hasApiRole(props) ? { name: props.ApiRoleName, password: newPassword() } : undefined
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
    const apiRole = hasApiRole(props)
      ? await apiRoleLogin(options.secrets, props.DatabaseSecretArn, props.ApiRoleName)
      : undefined
    const neon = await apiFor(props)
    if (props.ProjectName !== old.ProjectName) {
      await neon.request('PATCH', `/projects/${projectId}`, { project: { name: props.ProjectName } })
    }
    // The secret may be a new one (replaced, or emptied by hand): write the owner's strings again, from Neon, which
    // keeps the password of the role it made. So a deploy never resets one under the functions that are using it.
    const ownerUri = (pooled: boolean) =>
      neon.request<{ uri: string }>(
        'GET',
        `/projects/${projectId}/connection_uri?${new URLSearchParams({
          database_name: props.DatabaseName,
          role_name: props.RoleName,
          pooled: String(pooled),
        })}`,
      )
    const [direct, pooled] = await Promise.all([ownerUri(false), ownerUri(true)])
    await writeConnectionStrings(options.secrets, props.DatabaseSecretArn, {
      pooledUrl: pooledUrlFor(pooled.uri, apiRole),
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

/**
 * A new password for the API's role: 192 random bits, far above the 60 Neon asks of a password set with SQL, in
 * base64url, so it goes into a URL as it is.
 */
const newPassword = () => randomBytes(24).toString('base64url')

/**
 * The API role's login on an existing project: the password the secret already holds for it, kept, because only
 * migrate sets a role's password and it runs only when its version changes (new migrations, a new secretsGeneration),
 * so a new one here would lock the API out. A new password only when the secret holds none for the role: a stack from before the API's role (migrate,
 * new in that deploy, then creates it), or a secret emptied or replaced by hand.
 */
async function apiRoleLogin(
  secrets: SecretsManagerClient,
  secretArn: string,
  name: string,
): Promise<RoleLogin> {
  let value: string | undefined
  try {
    value = (await secrets.send(new GetSecretValueCommand({ SecretId: secretArn }))).SecretString
  } catch (error) {
    // Only a secret with no value yet counts as empty; any other failure (a denial, throttling) must not pass for
    // one, or a passing glitch would replace a password in use.
    if (errorName(error) !== 'ResourceNotFoundException') {
      throw new Error(
        `could not read the connection strings from the secret ${secretArn} (${errorName(error)})`,
      )
    }
  }
  const password = storedPassword(value, name)
  if (password) return { name, password }
  logger.warn('neon api role gets a new password: migrate must run to set it', { role: name })
  return { name, password: newPassword() }
}

/** The password of `role` in a stored `pooledUrl`, if that is who it connects as. */
function storedPassword(secretString: string | undefined, role: string): string | undefined {
  if (!secretString) return undefined
  try {
    const { pooledUrl } = JSON.parse(secretString) as { pooledUrl?: unknown }
    if (typeof pooledUrl !== 'string') return undefined
    const url = new URL(pooledUrl)
    if (decodeURIComponent(url.username) !== role) return undefined
    return decodeURIComponent(url.password) || undefined
  } catch {
    // JSON.parse and URL quote their input in the message, and this input holds passwords.
    return undefined
  }
}

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
  return { pooledUrl: pooledUrlFor(pooled.toString(), apiRole), directUrl: match.connection_uri }
}

/** The owner's pooled string, as the API's role when it has one; TLS required either way. */
function pooledUrlFor(ownerPooledUri: string, apiRole?: RoleLogin): string {
  const url = new URL(ownerPooledUri)
  if (apiRole) {
    url.username = apiRole.name
    url.password = apiRole.password
  }
  url.searchParams.set('sslmode', 'require')
  return url.toString()
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
