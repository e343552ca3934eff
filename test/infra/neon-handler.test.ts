import {
  GetSecretValueCommand,
  InternalServiceError,
  PutSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager'
import type {
  CloudFormationCustomResourceCreateEvent,
  CloudFormationCustomResourceDeleteEvent,
  CloudFormationCustomResourceUpdateEvent,
} from 'aws-lambda'
import { mockClient } from 'aws-sdk-client-mock'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { freePort } from '#infra/local/postgres'
import { type ConnectionStrings, createNeonHandler, provisionalName } from '#infra/neon/handler'
import { IN_SERVICE_RESOURCE_TYPE, type NeonProjectProperties } from '#infra/neon/properties'
import { DEFAULT_COMPUTE, DEFAULT_HISTORY_RETENTION_SECONDS, KEY_ORG_ID, startFakeNeon } from './fake-neon.ts'

const API_KEY = 'napi_k3y0nlyth3t3stkn0ws'
const API_KEY_SECRET = 'papa-auth/neon-api-key'
const DATABASE_SECRET = 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:DatabaseSecret-AbCdEf'
const OWNER = 'papa_auth_owner'
const API_ROLE = 'papa_auth_api'
/** A resource as a stack from before the API's role delivers it, and as a rollback to such a stack does. */
const BEFORE_API_ROLE = { ApiRoleName: undefined }
/** A password the handler made: 24 random bytes or more, in base64url. */
const NEW_PASSWORD = /^[A-Za-z0-9_-]{32,}$/
/** The name a project carries until the deploy that created it completes. */
const PROVISIONAL = /^PapaAuth \(deploying [0-9a-f]{8}\)$/

const secretsManager = mockClient(SecretsManagerClient)
let neon: Awaited<ReturnType<typeof startFakeNeon>>
let output: string[]
/** The database secret's value, as Secrets Manager holds it: undefined while it has none. */
let databaseSecret: string | undefined
/** Every database password a test stored or the handler wrote, none of which may reach a log. */
let passwords: Set<string>

const handler = createNeonHandler({
  secrets: new SecretsManagerClient({ region: 'eu-central-1' }),
  retryDelayMs: 1,
  pollIntervalMs: 1,
})

beforeAll(async () => {
  neon = await startFakeNeon()
})
afterAll(async () => {
  await neon.close()
  secretsManager.restore()
})

beforeEach(() => {
  neon.reset()
  // Each test starts with an empty Neon organization.
  neon.projects.clear()
  secretsManager.reset()
  secretsManager
    .on(GetSecretValueCommand, { SecretId: API_KEY_SECRET })
    .resolves({ SecretString: `${API_KEY}\n` })
  databaseSecret = undefined
  passwords = new Set()
  secretsManager.on(GetSecretValueCommand, { SecretId: DATABASE_SECRET }).callsFake(async () => {
    if (databaseSecret === undefined) {
      throw new ResourceNotFoundException({
        message: "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT",
        $metadata: {},
      })
    }
    return { SecretString: databaseSecret }
  })
  secretsManager
    .on(PutSecretValueCommand)
    .callsFake(async (input: { SecretId?: string; SecretString?: string }) => {
      if (input.SecretId === DATABASE_SECRET) storeSecret(input.SecretString)
      return {}
    })
  // Everything the handler logs, to check that no key or password ever reaches CloudWatch.
  output = []
  const capture = (chunk: string | Uint8Array) => {
    output.push(String(chunk))
    return true
  }
  vi.spyOn(process.stdout, 'write').mockImplementation(capture)
  vi.spyOn(process.stderr, 'write').mockImplementation(capture)
  return () => vi.restoreAllMocks()
})
afterEach(() => expectNothingSecretIn())

/** Sets the database secret's value, as the handler or an engineer would, and notes the passwords in it. */
function storeSecret(value: string | undefined) {
  databaseSecret = value
  try {
    const strings = JSON.parse(value ?? 'null') as Partial<ConnectionStrings>
    for (const url of [strings.pooledUrl, strings.directUrl, strings.cleanupUrl]) {
      const password = url ? new URL(url).password : ''
      if (password) passwords.add(password).add(decodeURIComponent(password))
    }
  } catch {
    // Not connection strings: nothing to note.
  }
}

const properties = (overrides: Partial<NeonProjectProperties> = {}) => ({
  ServiceToken: 'arn:aws:lambda:eu-central-1:123456789012:function:provider',
  ApiUrl: neon.url,
  ApiKeySecretId: API_KEY_SECRET,
  DatabaseSecretArn: DATABASE_SECRET,
  ProjectName: 'PapaAuth',
  RegionId: 'aws-eu-central-1',
  PgVersion: '17',
  DatabaseName: 'papa_auth',
  RoleName: OWNER,
  ApiRoleName: API_ROLE,
  DeleteOnRemoval: 'false',
  ...overrides,
})

const common = {
  ServiceToken: 'arn:aws:lambda:eu-central-1:123456789012:function:provider',
  ResponseURL: 'https://cloudformation-custom-resource-response.example/',
  StackId: 'arn:aws:cloudformation:eu-central-1:123456789012:stack/PapaAuth/1',
  RequestId: 'request-1',
  LogicalResourceId: 'NeonProject8E011342',
  ResourceType: 'Custom::NeonProject',
}

const createEvent = (
  overrides: Partial<NeonProjectProperties> = {},
): CloudFormationCustomResourceCreateEvent => ({
  ...common,
  RequestType: 'Create',
  ResourceProperties: properties(overrides),
})

const updateEvent = (
  projectId: string,
  next: Partial<NeonProjectProperties>,
  previous: Partial<NeonProjectProperties> = {},
): CloudFormationCustomResourceUpdateEvent => ({
  ...common,
  RequestType: 'Update',
  PhysicalResourceId: projectId,
  ResourceProperties: properties(next),
  OldResourceProperties: properties(previous),
})

const deleteEvent = (
  projectId: string,
  overrides: Partial<NeonProjectProperties> = {},
): CloudFormationCustomResourceDeleteEvent => ({
  ...common,
  RequestType: 'Delete',
  PhysicalResourceId: projectId,
  ResourceProperties: properties(overrides),
})

/** The error a promise rejects with; fails the test when it resolves. */
async function failureOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise
  } catch (error) {
    if (error instanceof Error) return error
    throw new Error(`rejected with a non-error: ${String(error)}`)
  }
  throw new Error('expected a failure, but it succeeded')
}

const writtenSecrets = () =>
  secretsManager.commandCalls(PutSecretValueCommand).map((call) => ({
    SecretId: call.args[0].input.SecretId,
    value: JSON.parse(call.args[0].input.SecretString ?? 'null') as ConnectionStrings,
  }))

/** What reached CloudFormation or the logs must carry neither the API key nor a database password. */
function expectNothingSecretIn(...texts: string[]) {
  for (const text of [...texts, ...output]) {
    expect(text).not.toContain(API_KEY)
    expect(text).not.toMatch(/npg_secret/)
    // A connection string with its password in it.
    expect(text).not.toMatch(/:\/\/[^/\s@]*:[^@\s]*@/)
    for (const password of passwords) expect(text).not.toContain(password)
  }
}

/** The in-service step's event: the last resource of a deploy that created the project. */
const inServiceEvent = (
  projectId: string,
  requestType: 'Create' | 'Delete' = 'Create',
): CloudFormationCustomResourceCreateEvent | CloudFormationCustomResourceDeleteEvent => {
  const base = {
    ...common,
    LogicalResourceId: 'NeonInService',
    ResourceType: IN_SERVICE_RESOURCE_TYPE,
    ResourceProperties: {
      ServiceToken: common.ServiceToken,
      ApiUrl: neon.url,
      ApiKeySecretId: API_KEY_SECRET,
      ProjectId: projectId,
      ProjectName: 'PapaAuth',
    },
  }
  return requestType === 'Create'
    ? { ...base, RequestType: 'Create' }
    : { ...base, RequestType: 'Delete', PhysicalResourceId: `${projectId}/in-service` }
}

/**
 * A project made by a deploy that completed (Create, then the in-service step), and the strings Create wrote; the
 * requests and calls so far are forgotten.
 */
const createProject = async (overrides: Partial<NeonProjectProperties> = {}) => {
  const result = await handler(createEvent(overrides))
  const [written] = writtenSecrets()
  if (!written) throw new Error('Create wrote no secret')
  await handler(inServiceEvent(result.PhysicalResourceId))
  neon.reset()
  secretsManager.resetHistory()
  return { projectId: result.PhysicalResourceId, written }
}

const requestLines = () => neon.requests.map((request) => `${request.method} ${request.path}`)

const usersIn = ({ pooledUrl, directUrl }: ConnectionStrings) => ({
  pooled: new URL(pooledUrl).username,
  direct: new URL(directUrl).username,
})

/** The API's pooled string for a project of the fake: its `-pooler` host, the database, TLS. */
const apiPooledUrl = (projectId: string, password: string) =>
  `postgresql://${API_ROLE}:${password}@ep-${projectId}-pooler.eu-central-1.aws.neon.tech/papa_auth?sslmode=require`

const passwordIn = (url: string) => new URL(url).password

/** The secrets the handler read, in order. */
const secretsRead = () =>
  secretsManager.commandCalls(GetSecretValueCommand).map((call) => call.args[0].input.SecretId)

const CLEANUP_ROLE = 'papa_auth_cleanup'
const WITH_CLEANUP_ROLE = { CleanupRoleName: CLEANUP_ROLE }

describe("the cleanup's role", () => {
  it('gets a pooled string of its own, with a password of its own, on a new project', async () => {
    const result = await handler(createEvent(WITH_CLEANUP_ROLE))
    const [written] = writtenSecrets()
    const cleanupUrl = new URL(written?.value.cleanupUrl ?? 'postgresql://nobody@nowhere')
    const pooledUrl = new URL(written?.value.pooledUrl ?? 'postgresql://nobody@nowhere')
    expect(cleanupUrl.username).toBe(CLEANUP_ROLE)
    expect(cleanupUrl.password).toMatch(NEW_PASSWORD)
    expect(cleanupUrl.password).not.toBe(pooledUrl.password)
    expect(cleanupUrl.host).toBe(pooledUrl.host)
    expect(cleanupUrl.searchParams.get('sslmode')).toBe('require')
    expectNothingSecretIn(JSON.stringify(result))
  })

  it('keeps, on update, the passwords the secret holds for both roles', async () => {
    const { projectId, written } = await createProject(WITH_CLEANUP_ROLE)
    await handler(
      updateEvent(projectId, { ...WITH_CLEANUP_ROLE, ProjectName: 'auth-prod' }, WITH_CLEANUP_ROLE),
    )
    expect(writtenSecrets()).toEqual([written])
  })

  it('gets a password on the update that first names it, the API’s kept: migrate then creates the role', async () => {
    const { projectId, written } = await createProject()
    expect(written.value.cleanupUrl).toBeUndefined()
    await handler(updateEvent(projectId, WITH_CLEANUP_ROLE))
    const [rewritten] = writtenSecrets()
    expect(rewritten?.value.pooledUrl).toBe(written.value.pooledUrl)
    expect(rewritten?.value.directUrl).toBe(written.value.directUrl)
    const cleanupUrl = new URL(rewritten?.value.cleanupUrl ?? 'postgresql://nobody@nowhere')
    expect([cleanupUrl.username, cleanupUrl.password]).toEqual([
      CLEANUP_ROLE,
      expect.stringMatching(NEW_PASSWORD),
    ])
    expect(output.join('')).toContain('neon cleanup role gets a new password')
  })
})

describe('create', () => {
  it('creates the project, waits for its operations, and writes the owner’s direct string and the API role’s pooled one', async () => {
    const result = await handler(createEvent({ OrgId: 'org-quiet-bird-123' }))

    const [search, create, ...rest] = neon.requests
    // First a look for a project of that name (this stack's own leftover, or one it must not duplicate).
    expect(search).toEqual({
      method: 'GET',
      path: '/projects',
      query: { search: 'PapaAuth', limit: '400', org_id: 'org-quiet-bird-123' },
      authorization: `Bearer ${API_KEY}`,
      body: undefined,
    })
    expect(create).toEqual({
      method: 'POST',
      path: '/projects',
      query: {},
      authorization: `Bearer ${API_KEY}`,
      body: {
        project: {
          // Its configured name comes with the in-service step, when the deploy has completed.
          name: expect.stringMatching(PROVISIONAL),
          region_id: 'aws-eu-central-1',
          pg_version: 17,
          org_id: 'org-quiet-bird-123',
          branch: { database_name: 'papa_auth', role_name: 'papa_auth_owner' },
        },
      },
    })
    const projectId = result.PhysicalResourceId
    // Only running operations are polled, until they finish; no role is asked of Neon (migrate makes it with SQL).
    expect(rest.map((request) => [`${request.method} ${request.path}`, request.body])).toEqual([
      [`GET /projects/${projectId}/operations/op-compute-${projectId}`, undefined],
      [`GET /projects/${projectId}/operations/op-compute-${projectId}`, undefined],
    ])
    const [written] = writtenSecrets()
    const password = passwordIn(written?.value.pooledUrl ?? 'postgresql://nobody@nowhere')
    expect(password).toMatch(NEW_PASSWORD)
    const owner = neon.ownerStrings(projectId)
    expect(writtenSecrets()).toEqual([
      {
        SecretId: DATABASE_SECRET,
        value: { pooledUrl: apiPooledUrl(projectId, password), directUrl: owner.directUrl },
      },
    ])
    expect(usersIn(owner)).toEqual({ pooled: OWNER, direct: OWNER })
    expect(new URL(apiPooledUrl(projectId, password)).host).toBe(new URL(owner.pooledUrl).host)
    expect(password).not.toBe(passwordIn(owner.directUrl))
    // A new project has no password to keep: Create reads only the API key.
    expect(secretsRead()).toEqual([API_KEY_SECRET])
    expect(result).toEqual({ PhysicalResourceId: projectId, Data: { ProjectId: projectId } })
    expectNothingSecretIn(JSON.stringify(result))
    // The logs were captured, so the check on them above can fail.
    expect(output.join('')).toContain('neon project created')
  })

  it('gives every new project’s API role a password of its own', async () => {
    await handler(createEvent())
    await handler(createEvent())
    const [first, second] = writtenSecrets().map((written) => passwordIn(written.value.pooledUrl))
    expect(first).toMatch(NEW_PASSWORD)
    expect(second).toMatch(NEW_PASSWORD)
    expect(first).not.toBe(second)
  })

  it('writes the owner into both strings for a resource that names no API role (one from before it)', async () => {
    const result = await handler(createEvent(BEFORE_API_ROLE))
    const projectId = result.PhysicalResourceId
    expect(requestLines()).toEqual([
      'GET /projects',
      'POST /projects',
      `GET /projects/${projectId}/operations/op-compute-${projectId}`,
      `GET /projects/${projectId}/operations/op-compute-${projectId}`,
    ])
    expect(writtenSecrets()).toEqual([{ SecretId: DATABASE_SECRET, value: neon.ownerStrings(projectId) }])
  })

  it('sends no org_id when none is configured, and reads a key stored as JSON', async () => {
    secretsManager.on(GetSecretValueCommand, { SecretId: API_KEY_SECRET }).resolves({
      SecretString: JSON.stringify({ apiKey: API_KEY }),
    })
    await handler(createEvent())
    const create = neon.requests.find((request) => request.method === 'POST')
    expect(create?.authorization).toBe(`Bearer ${API_KEY}`)
    expect(create?.body).toEqual({
      project: expect.not.objectContaining({ org_id: expect.anything() }),
    })
    expect(neon.requests[0]?.query).toEqual({ search: 'PapaAuth', limit: '400' })
  })

  it('retries while Neon is locked or unwell, then succeeds', async () => {
    neon.failNext(
      'POST /projects',
      { status: 423, body: { code: 'LOCKED', message: 'project is locked' } },
      { status: 429, body: { message: 'slow down' } },
    )
    const result = await handler(createEvent())
    const projectId = result.PhysicalResourceId
    expect(requestLines().filter((line) => line === 'POST /projects')).toHaveLength(3)
    expect(writtenSecrets().map((written) => [written.SecretId, usersIn(written.value)])).toEqual([
      [DATABASE_SECRET, { pooled: API_ROLE, direct: OWNER }],
    ])

    neon.failNext(`PATCH /projects/${projectId}`, { status: 503, body: { message: 'try again' } })
    await handler(updateEvent(projectId, { ProjectName: 'renamed' }))
    expect(neon.projects.get(projectId)?.name).toBe('renamed')
  })

  it('never sends a create twice when Neon may have acted on it (a 5xx), so no second project appears', async () => {
    neon.failNext('POST /projects', { status: 502, body: { message: 'bad gateway' } })
    const before = neon.projects.size
    await expect(handler(createEvent())).rejects.toThrow(
      'Neon API POST /projects failed with 502: bad gateway',
    )
    expect(neon.requests.filter((request) => request.method === 'POST')).toHaveLength(1)
    expect(neon.projects.size).toBe(before)
  })
})

describe('update', () => {
  it('renames the project and writes the strings again, the API’s password kept, the physical id too', async () => {
    const { projectId, written } = await createProject()
    const result = await handler(updateEvent(projectId, { ProjectName: 'auth-prod' }))

    const connectionUri = (pooled: boolean) => [
      'GET',
      `/projects/${projectId}/connection_uri`,
      { database_name: 'papa_auth', role_name: OWNER, pooled: String(pooled) },
    ]
    const sent = neon.requests.map((request) => [request.method, request.path, request.body ?? request.query])
    expect(sent).toHaveLength(4)
    // The project as Neon has it comes first: the fixed properties are checked against it.
    expect(sent[0]).toEqual(['GET', `/projects/${projectId}`, {}])
    expect(sent).toEqual(
      expect.arrayContaining([
        ['PATCH', `/projects/${projectId}`, { project: { name: 'auth-prod' } }],
        connectionUri(false),
        connectionUri(true),
      ]),
    )
    expect(neon.projects.get(projectId)?.name).toBe('auth-prod')
    expect(secretsRead()).toEqual([DATABASE_SECRET, API_KEY_SECRET])
    expect(writtenSecrets()).toEqual([written])
    expect(result).toEqual({ PhysicalResourceId: projectId, Data: { ProjectId: projectId } })
  })

  it('keeps, exactly, the password of the API role the secret already holds: migrate would not set a new one', async () => {
    const { projectId } = await createProject()
    // A password the role already has (one Neon made, before migrate made the role): not the handler's kind.
    const stored = {
      pooledUrl: apiPooledUrl(projectId, 'npg_Kept-Pa55w0rd%2Fwith%40escapes'),
      directUrl: neon.ownerStrings(projectId).directUrl,
    }
    storeSecret(JSON.stringify(stored))

    await handler(updateEvent(projectId, {}))

    expect(requestLines()).toEqual([
      `GET /projects/${projectId}`,
      `GET /projects/${projectId}/connection_uri`,
      `GET /projects/${projectId}/connection_uri`,
    ])
    expect(writtenSecrets()).toEqual([{ SecretId: DATABASE_SECRET, value: stored }])
    expect(decodeURIComponent(passwordIn(stored.pooledUrl))).toBe('npg_Kept-Pa55w0rd/with@escapes')
  })

  it('gives a project from before the API’s role a password for it, and keeps the owner’s string', async () => {
    const { projectId, written } = await createProject(BEFORE_API_ROLE)
    expect(written.value).toEqual(neon.ownerStrings(projectId))

    const result = await handler(updateEvent(projectId, {}, BEFORE_API_ROLE))

    expect(requestLines()).toEqual([
      `GET /projects/${projectId}`,
      `GET /projects/${projectId}/connection_uri`,
      `GET /projects/${projectId}/connection_uri`,
    ])
    const [rewritten] = writtenSecrets()
    const password = passwordIn(rewritten?.value.pooledUrl ?? 'postgresql://nobody@nowhere')
    expect(password).toMatch(NEW_PASSWORD)
    expect(password).not.toBe(passwordIn(written.value.directUrl))
    // The owner's string, which the migrations use, is the one it was.
    expect(writtenSecrets()).toEqual([
      {
        SecretId: DATABASE_SECRET,
        value: { pooledUrl: apiPooledUrl(projectId, password), directUrl: written.value.directUrl },
      },
    ])
    expect(result).toEqual({ PhysicalResourceId: projectId, Data: { ProjectId: projectId } })
    expectNothingSecretIn(JSON.stringify(result))
  })

  it.each([
    ['has no value', undefined],
    ['is not JSON', '{"pooledUrl":"postgresql://papa_auth_api:npg_secret_cut@ep-'],
    ['holds no URL', JSON.stringify({ pooledUrl: 'papa_auth_api npg_secret_garbled' })],
    ['holds no password', JSON.stringify({ pooledUrl: 'postgresql://papa_auth_api@ep-x-pooler/papa_auth' })],
  ])('gives the API’s role a new password when the secret %s, quoting none of it', async (_, value) => {
    const { projectId } = await createProject()
    storeSecret(value)

    await handler(updateEvent(projectId, {}))

    const [written] = writtenSecrets()
    const password = passwordIn(written?.value.pooledUrl ?? 'postgresql://nobody@nowhere')
    expect(password).toMatch(NEW_PASSWORD)
    expect(writtenSecrets()).toEqual([
      {
        SecretId: DATABASE_SECRET,
        value: {
          pooledUrl: apiPooledUrl(projectId, password),
          directUrl: neon.ownerStrings(projectId).directUrl,
        },
      },
    ])
    expect(output.join('')).toContain('neon api role gets a new password')
  })

  it('fails, changing nothing, when the secret cannot be read: a passing error is no reason for a new password', async () => {
    const { projectId } = await createProject()
    secretsManager
      .on(GetSecretValueCommand, { SecretId: DATABASE_SECRET })
      .rejects(new InternalServiceError({ message: 'try again later', $metadata: {} }))

    const error = await failureOf(handler(updateEvent(projectId, { ProjectName: 'auth-prod' })))

    expect(error.message).toBe(
      `could not read the connection strings from the secret ${DATABASE_SECRET} (InternalServiceError)`,
    )
    expect(neon.requests).toEqual([])
    expect(neon.projects.get(projectId)?.name).toBe('PapaAuth')
    expect(writtenSecrets()).toEqual([])
  })

  it('points both strings at the owner again when rolled back to a resource from before the API’s role', async () => {
    const { projectId } = await createProject()
    await handler(updateEvent(projectId, BEFORE_API_ROLE, {}))
    expect(requestLines()).toEqual([
      `GET /projects/${projectId}`,
      `GET /projects/${projectId}/connection_uri`,
      `GET /projects/${projectId}/connection_uri`,
    ])
    expect(secretsRead()).toEqual([API_KEY_SECRET])
    expect(writtenSecrets()).toEqual([{ SecretId: DATABASE_SECRET, value: neon.ownerStrings(projectId) }])
  })

  it('refuses to move the project to another region, which would mean a new empty database', async () => {
    const { projectId } = await createProject()
    await expect(handler(updateEvent(projectId, { RegionId: 'aws-us-east-2' }))).rejects.toThrow(
      `RegionId of the Neon project ${projectId} cannot change (aws-eu-central-1 to aws-us-east-2)`,
    )
    // Read, and nothing changed.
    expect(requestLines()).toEqual([`GET /projects/${projectId}`])
    expect(writtenSecrets()).toEqual([])
  })
})

describe('the compute’s settings', () => {
  /** Scale to zero never, autoscaling from 0.5 to 2 CU: what the neonSuspendTimeoutSeconds and neonMin/MaxComputeUnits context give. */
  const TUNED = { SuspendTimeoutSeconds: '-1', MinComputeUnits: '0.5', MaxComputeUnits: '2' }
  const computeOf = (projectId: string) => neon.projects.get(projectId)?.compute
  const endpointPath = (projectId: string) => `/projects/${projectId}/endpoints/ep-${projectId}`

  it('are given to Neon with the new project, for its first compute', async () => {
    const { PhysicalResourceId: projectId } = await handler(createEvent(TUNED))

    const create = neon.requests.find((request) => request.method === 'POST')
    expect(create?.body).toEqual({
      project: expect.objectContaining({
        default_endpoint_settings: {
          suspend_timeout_seconds: -1,
          autoscaling_limit_min_cu: 0.5,
          autoscaling_limit_max_cu: 2,
        },
      }),
    })
    expect(computeOf(projectId)).toEqual({
      suspend_timeout_seconds: -1,
      autoscaling_limit_min_cu: 0.5,
      autoscaling_limit_max_cu: 2,
    })
  })

  it('are Neon’s own when none is given: nothing is sent, at creation or on update', async () => {
    const { projectId } = await createProject()
    expect(computeOf(projectId)).toEqual(DEFAULT_COMPUTE)
    // A compute changed in the console stays as it is: the stack does not manage what it is not given.
    const tunedByHand = { ...DEFAULT_COMPUTE, suspend_timeout_seconds: 3600 }
    Object.assign(computeOf(projectId) ?? {}, tunedByHand)

    await handler(updateEvent(projectId, {}))

    expect(requestLines()).not.toContain(`GET /projects/${projectId}/endpoints`)
    expect(computeOf(projectId)).toEqual(tunedByHand)
  })

  it('are set in place on the existing compute by an update, only what differs, waiting for Neon to apply it', async () => {
    const { projectId, written } = await createProject()

    const result = await handler(updateEvent(projectId, { SuspendTimeoutSeconds: '600' }))

    expect(requestLines()).toEqual([
      `GET /projects/${projectId}`,
      `GET /projects/${projectId}/connection_uri`,
      `GET /projects/${projectId}/connection_uri`,
      // The compute whose host the connection strings name, compared with what is asked.
      `GET /projects/${projectId}/endpoints`,
      `PATCH ${endpointPath(projectId)}`,
      `GET /projects/${projectId}/operations/op-config-${projectId}-1`,
      `GET /projects/${projectId}/operations/op-config-${projectId}-1`,
    ])
    const patch = neon.requests.find((request) => request.method === 'PATCH')
    expect(patch?.body).toEqual({ endpoint: { suspend_timeout_seconds: 600 } })
    expect(computeOf(projectId)).toEqual({ ...DEFAULT_COMPUTE, suspend_timeout_seconds: 600 })

    // The sizes, both limits together; the same project, the same strings: an update, never a new database.
    neon.reset()
    await handler(
      updateEvent(
        projectId,
        { SuspendTimeoutSeconds: '600', MinComputeUnits: '1', MaxComputeUnits: '4' },
        { SuspendTimeoutSeconds: '600' },
      ),
    )
    expect(neon.requests.find((request) => request.method === 'PATCH')?.body).toEqual({
      endpoint: { autoscaling_limit_min_cu: 1, autoscaling_limit_max_cu: 4 },
    })
    expect(computeOf(projectId)).toEqual({
      suspend_timeout_seconds: 600,
      autoscaling_limit_min_cu: 1,
      autoscaling_limit_max_cu: 4,
    })
    expect(neon.requests.filter((request) => ['POST', 'DELETE'].includes(request.method))).toEqual([])
    expect(neon.projects.size).toBe(1)
    expect(writtenSecrets()).toEqual([written, written])
    expect(result).toEqual({ PhysicalResourceId: projectId, Data: { ProjectId: projectId } })
    expect(output.join('')).toContain('neon compute updated')
  })

  it('sends nothing when the compute already is as asked', async () => {
    const { projectId } = await createProject(TUNED)
    await handler(updateEvent(projectId, TUNED, TUNED))
    expect(requestLines()).toEqual([
      `GET /projects/${projectId}`,
      `GET /projects/${projectId}/connection_uri`,
      `GET /projects/${projectId}/connection_uri`,
      `GET /projects/${projectId}/endpoints`,
    ])
  })

  it('puts a suspend timeout no longer given back to Neon’s default, and leaves sizes no longer given as they are', async () => {
    const { projectId } = await createProject(TUNED)

    // The context removed, or the rollback of the deploy that set it: both ask without what the old asked.
    await handler(updateEvent(projectId, {}, TUNED))

    expect(neon.requests.find((request) => request.method === 'PATCH')?.body).toEqual({
      endpoint: { suspend_timeout_seconds: 0 },
    })
    expect(computeOf(projectId)).toEqual({
      suspend_timeout_seconds: 0,
      autoscaling_limit_min_cu: 0.5,
      autoscaling_limit_max_cu: 2,
    })
  })

  it('fails the deploy with Neon’s reason when it refuses them, writing nothing', async () => {
    const { projectId } = await createProject()
    neon.failNext(`PATCH ${endpointPath(projectId)}`, {
      status: 400,
      body: { code: '', message: 'scale to zero cannot be disabled on the Free plan' },
    })

    const error = await failureOf(handler(updateEvent(projectId, { SuspendTimeoutSeconds: '-1' })))

    expect(error.message).toBe(
      `Neon API PATCH ${endpointPath(projectId)} failed with 400: scale to zero cannot be disabled on the Free plan`,
    )
    expect(writtenSecrets()).toEqual([])
    expect(computeOf(projectId)).toEqual(DEFAULT_COMPUTE)
  })

  it('says so when no compute serves the connection strings’ host', async () => {
    const { projectId } = await createProject()
    neon.failNext(`GET /projects/${projectId}/endpoints`, { status: 200, body: { endpoints: [] } })

    const error = await failureOf(handler(updateEvent(projectId, { SuspendTimeoutSeconds: '-1' })))

    expect(error.message).toMatch(
      new RegExp(
        `^Neon project ${projectId}: no compute serves ep-${projectId}\\.eu-central-1\\.aws\\.neon\\.tech,`,
      ),
    )
    expect(writtenSecrets()).toEqual([])
  })

  it.each([
    [{ SuspendTimeoutSeconds: '30' }, /SuspendTimeoutSeconds must be 0 .* not 30 /],
    [{ SuspendTimeoutSeconds: '5m' }, /SuspendTimeoutSeconds must be a whole number of seconds, not "5m"/],
    [{ MinComputeUnits: '1' }, /MinComputeUnits and MaxComputeUnits go together/],
    [{ MinComputeUnits: '4', MaxComputeUnits: '1' }, /the minimum \(4 CU\) is above the maximum \(1 CU\)/],
    [{ MinComputeUnits: '0.3', MaxComputeUnits: '1' }, /Neon has no compute of 0.3 CU/],
  ])('refuses properties Neon could not honour, before any request: %o', async (settings, reason) => {
    await expect(handler(createEvent(settings))).rejects.toThrow(reason)
    expect(neon.requests).toEqual([])
  })
})

describe('delete', () => {
  it('keeps a project in service by default, only reading it', async () => {
    const { projectId } = await createProject()
    const result = await handler(deleteEvent(projectId))
    expect(result).toEqual({ PhysicalResourceId: projectId })
    expect(requestLines()).toEqual([`GET /projects/${projectId}`])
    expect(neon.projects.get(projectId)?.name).toBe('PapaAuth')
  })

  it('deletes the project when the engineer opted in', async () => {
    const { projectId } = await createProject()
    await handler(deleteEvent(projectId, { DeleteOnRemoval: 'true' }))
    expect(neon.requests.map((request) => `${request.method} ${request.path}`)).toEqual([
      `DELETE /projects/${projectId}`,
    ])
    expect(neon.projects.has(projectId)).toBe(false)
  })

  it('succeeds when the project is already gone', async () => {
    await expect(handler(deleteEvent('gone-project-123', { DeleteOnRemoval: 'true' }))).resolves.toEqual({
      PhysicalResourceId: 'gone-project-123',
    })
  })
})

describe('a failure', () => {
  it('fails the deploy with Neon’s reason, and neither the key nor a password in it', async () => {
    neon.failNext('POST /projects', {
      status: 401,
      body: { code: '', message: `authentication failed for key ${API_KEY}` },
    })
    const error = await failureOf(handler(createEvent()))
    expect(error.message).toBe(
      'Neon API POST /projects failed with 401: authentication failed for key [redacted]',
    )
    expect(writtenSecrets()).toEqual([])
    expectNothingSecretIn(error.message, String(error.stack))
  })

  it('removes a project it just created when the secret cannot be written, and says why', async () => {
    secretsManager
      .on(PutSecretValueCommand)
      .rejects(new ResourceNotFoundException({ message: 'no such secret', $metadata: {} }))
    const error = await failureOf(handler(createEvent()))
    expect(error.message).toBe(
      `could not write the connection strings to the secret ${DATABASE_SECRET} (ResourceNotFoundException)`,
    )
    expect(requestLines().slice(0, 2)).toEqual(['GET /projects', 'POST /projects'])
    const deleted = neon.requests.at(-1)
    expect(deleted?.method).toBe('DELETE')
    const projectId = deleted?.path.replace('/projects/', '') ?? ''
    expect(projectId).toMatch(/^quiet-bird-/)
    expect(neon.projects.has(projectId)).toBe(false)
    expectNothingSecretIn(error.message)
  })

  it('fails without quoting an answer that is not JSON, which may hold a password', async () => {
    neon.failNext('POST /projects', {
      status: 201,
      text: '{"connection_uris":[{"connection_uri":"postgresql://papa_auth_owner:npg_secret_cut@ep-',
    })
    const error = await failureOf(handler(createEvent()))
    expect(error.message).toBe('Neon API POST /projects answered with a body that is not JSON')
    expectNothingSecretIn(error.message, String(error.stack))
  })

  it('says which secret could not be read when the API key is missing', async () => {
    secretsManager
      .on(GetSecretValueCommand, { SecretId: API_KEY_SECRET })
      .rejects(new ResourceNotFoundException({ message: 'no such secret', $metadata: {} }))
    await expect(handler(createEvent())).rejects.toThrow(
      `could not read the Neon API key from the secret ${API_KEY_SECRET} (ResourceNotFoundException)`,
    )
    expect(neon.requests).toEqual([])
  })

  it('fails when a new project’s operation fails', async () => {
    neon.failNext('POST /projects', {
      status: 201,
      body: {
        project: { id: 'broken-1', name: 'PapaAuth' },
        connection_uris: [],
        operations: [{ id: 'op-1', status: 'failed' }],
      },
    })
    await expect(handler(createEvent())).rejects.toThrow('Neon project broken-1: operation op-1 failed')
  })

  it('gives up on an unreachable API with a readable reason', async () => {
    const closedPort = await freePort()
    await expect(handler(createEvent({ ApiUrl: `http://127.0.0.1:${closedPort}/api/v2` }))).rejects.toThrow(
      /^Neon API GET \/projects\?search=PapaAuth&limit=400 failed: Neon could not be reached \(ECONNREFUSED\)$/,
    )
  })
})

/** The same stack created again under its name, after a failed first deploy (CloudFormation gives it a new id). */
const RECREATED_STACK = 'arn:aws:cloudformation:eu-central-1:123456789012:stack/PapaAuth/2'
/** Another stack, with the same project name configured. */
const OTHER_STACK = 'arn:aws:cloudformation:eu-central-1:123456789012:stack/PapaAuthStaging/1'

/** The projects whose name is, or starts with, the configured one. */
const projectsNamedLikeConfigured = () =>
  [...neon.projects.values()].filter((project) => project.name.startsWith('PapaAuth'))

describe('a failed first deploy', () => {
  it('is rolled back with its project: Delete removes one whose deploy never completed, DeleteOnRemoval false', async () => {
    const { PhysicalResourceId: projectId } = await handler(createEvent())
    expect(neon.projects.get(projectId)?.name).toMatch(PROVISIONAL)
    neon.reset()

    // A later resource of the deploy fails; CloudFormation rolls back, deleting what it created.
    const result = await handler(deleteEvent(projectId))

    expect(result).toEqual({ PhysicalResourceId: projectId })
    expect(requestLines()).toEqual([`GET /projects/${projectId}`, `DELETE /projects/${projectId}`])
    expect(neon.projects.has(projectId)).toBe(false)
    expect(output.join('')).toContain('the deploy that created it did not complete')
  })

  it('leaves nothing behind when retried: the new create removes what the failed one left, and makes one project', async () => {
    // A create that never answered (cut off), or whose rollback could not reach Neon: its project is still there.
    const { PhysicalResourceId: leftover } = await handler(createEvent())
    neon.reset()

    const retried = await handler({ ...createEvent(), StackId: RECREATED_STACK })

    expect(requestLines()).toEqual([
      'GET /projects',
      `DELETE /projects/${leftover}`,
      'POST /projects',
      `GET /projects/${retried.PhysicalResourceId}/operations/op-compute-${retried.PhysicalResourceId}`,
      `GET /projects/${retried.PhysicalResourceId}/operations/op-compute-${retried.PhysicalResourceId}`,
    ])
    expect(projectsNamedLikeConfigured().map((project) => project.id)).toEqual([retried.PhysicalResourceId])
  })

  it('removes the project Neon made although it answered 5xx, found by its provisional name', async () => {
    neon.failNext('POST /projects', { status: 502, body: { message: 'bad gateway' }, acted: true })

    const error = await failureOf(handler(createEvent()))

    expect(error.message).toBe('Neon API POST /projects failed with 502: bad gateway')
    expect(requestLines()).toEqual([
      'GET /projects',
      'POST /projects',
      'GET /projects',
      expect.stringMatching(/^DELETE \/projects\/quiet-bird-/),
    ])
    expect(projectsNamedLikeConfigured()).toEqual([])
  })

  it('refuses to make a second project of the configured name, and names the one there', async () => {
    const existing = neon.addProject('PapaAuth', { createdAt: '2026-01-02T03:04:05Z' })

    const error = await failureOf(handler(createEvent()))

    expect(error.message).toBe(
      `Neon already has a project named PapaAuth (${existing}, "PapaAuth", created 2026-01-02T03:04:05Z): this ` +
        'stack creates a project of its own and never takes over one it did not create. Delete that project in ' +
        'the Neon console if nothing needs it, or give this stack another project name (context neonProjectName). ' +
        "If it is this stack's own, kept when the stack was deleted (cdk destroy keeps it, with its data), take it " +
        `back: deploy with -c neonAdoptProjectId=${existing} (docs/deploying.md, "Tearing down and coming back").`,
    )
    expect(requestLines()).toEqual(['GET /projects'])
    expect(neon.projects.get(existing)?.name).toBe('PapaAuth')
  })

  it('refuses while another stack’s project of that name is being created, and leaves it alone', async () => {
    const { PhysicalResourceId: theirs } = await handler({ ...createEvent(), StackId: OTHER_STACK })
    neon.reset()

    await expect(handler(createEvent())).rejects.toThrow(
      new RegExp(
        `^Neon already has a project named PapaAuth \\(${theirs}, "PapaAuth \\(deploying [0-9a-f]{8}\\)"`,
      ),
    )
    expect(requestLines()).toEqual(['GET /projects'])
    expect(neon.projects.has(theirs)).toBe(true)
  })

  it('still succeeds, keeping the project, when the rollback cannot reach Neon', async () => {
    const closedPort = await freePort()
    const result = await handler(
      deleteEvent('quiet-bird-10000', { ApiUrl: `http://127.0.0.1:${closedPort}/api/v2` }),
    )
    expect(result).toEqual({ PhysicalResourceId: 'quiet-bird-10000' })
    expect(output.join('')).toContain('neon project retained, unchecked')
  })
})

describe('deploy after teardown: the stack created again takes its kept project back', () => {
  /** A stack deployed, then destroyed: its project kept, in service, with its data (DeleteOnRemoval false). */
  const destroyedStack = async () => {
    const { projectId, written } = await createProject()
    await handler(deleteEvent(projectId))
    expect(neon.projects.get(projectId)?.name).toBe('PapaAuth')
    neon.reset()
    secretsManager.resetHistory()
    // `cdk destroy` keeps the database secret too; the stack created again makes a new, empty one.
    databaseSecret = undefined
    return { projectId, written }
  }
  /** The Create of the stack deployed again under the same name, after its deletion. */
  const createdAgain = (overrides: Partial<NeonProjectProperties> = {}) =>
    handler({ ...createEvent(overrides), StackId: RECREATED_STACK })

  it('is refused without neonAdoptProjectId, naming the project and the key that takes it back, changing nothing', async () => {
    const { projectId } = await destroyedStack()

    const error = await failureOf(createdAgain())

    expect(error.message).toMatch(
      new RegExp(
        `^Neon already has a project named PapaAuth \\(${projectId}, "PapaAuth", created .*\\): this stack ` +
          `creates a project of its own .* take it back: deploy with -c neonAdoptProjectId=${projectId} `,
      ),
    )
    expect(requestLines()).toEqual(['GET /projects'])
    expect([...neon.projects.keys()]).toEqual([projectId])
    expect(writtenSecrets()).toEqual([])
  })

  it('takes it back with neonAdoptProjectId: the same database and owner, no second project, nothing deleted', async () => {
    const { projectId, written: before } = await destroyedStack()

    const result = await createdAgain({ AdoptProjectId: projectId, CleanupRoleName: CLEANUP_ROLE })

    expect(result).toEqual({ PhysicalResourceId: projectId, Data: { ProjectId: projectId } })
    // Read, checked, never made nor deleted: the project, a look for others of its name, its owner's strings.
    expect(requestLines().sort()).toEqual(
      [
        `GET /projects/${projectId}`,
        'GET /projects',
        `GET /projects/${projectId}/connection_uri`,
        `GET /projects/${projectId}/connection_uri`,
      ].sort(),
    )
    expect([...neon.projects.keys()]).toEqual([projectId])
    const [written] = writtenSecrets()
    // The same database, as the same owner with the password Neon keeps: the data is where it was.
    expect(written?.value.directUrl).toBe(before.value.directUrl)
    expect(written?.value.directUrl).toBe(neon.ownerStrings(projectId).directUrl)
    // The API's and the cleanup's roles exist in that database: new passwords, which this deploy's migrate sets.
    const pooled = new URL(written?.value.pooledUrl ?? 'postgresql://nobody@nowhere')
    expect([pooled.username, pooled.host]).toEqual([API_ROLE, new URL(before.value.pooledUrl).host])
    expect(pooled.password).toMatch(NEW_PASSWORD)
    expect(pooled.password).not.toBe(passwordIn(before.value.pooledUrl))
    expect(new URL(written?.value.cleanupUrl ?? 'postgresql://nobody@nowhere').username).toBe(CLEANUP_ROLE)
    expect(output.join('')).toContain('neon project taken back')

    // The deploy completes: its in-service step leaves the name as it is; later deploys update it as ever.
    await handler({ ...inServiceEvent(projectId), StackId: RECREATED_STACK })
    expect(neon.projects.get(projectId)?.name).toBe('PapaAuth')
    await expect(
      handler({ ...updateEvent(projectId, { AdoptProjectId: projectId }), StackId: RECREATED_STACK }),
    ).resolves.toEqual(result)
  })

  it('removes what a failed create of this stack left, and still makes no project', async () => {
    const { projectId } = await destroyedStack()
    // A create of the stack created again that was cut off after Neon made its project (never in service).
    const cutOff = neon.addProject(
      provisionalName('PapaAuth', { StackId: RECREATED_STACK, LogicalResourceId: common.LogicalResourceId }),
    )
    neon.reset()

    await createdAgain({ AdoptProjectId: projectId })

    expect(requestLines()).toContain(`DELETE /projects/${cutOff}`)
    expect(requestLines()).not.toContain('POST /projects')
    expect([...neon.projects.keys()]).toEqual([projectId])
  })

  it.each([
    [
      'another stack’s (its own name)',
      { name: 'PapaAuthStaging' },
      /is named "PapaAuthStaging", not PapaAuth/,
    ],
    [
      'one whose creating deploy never completed',
      { name: 'PapaAuth (deploying 0123abcd)' },
      /is named "PapaAuth \(deploying 0123abcd\)", not PapaAuth: .* never completed \(it holds no data\)/,
    ],
    [
      'one in another region',
      { name: 'PapaAuth', regionId: 'aws-us-east-1' },
      /^RegionId of the Neon project \S+ cannot change \(aws-us-east-1 to aws-eu-central-1\)/,
    ],
    [
      'one in another organization',
      { name: 'PapaAuth', orgId: 'org-someone-else-9' },
      /^OrgId of the Neon project \S+ cannot change \(org-someone-else-9 to org-quiet-bird-123\)/,
    ],
    [
      'one made by hand, without the service’s database and owner',
      { name: 'PapaAuth' },
      /^DatabaseName and RoleName of the Neon project \S+ cannot change: it has no database papa_auth with the role papa_auth_owner/,
    ],
  ])('refuses to take back %s, changing nothing', async (_what, project, reason) => {
    const { name, ...overrides } = project
    const theirs = neon.addProject(name, { orgId: 'org-quiet-bird-123', ...overrides })
    const before = structuredClone(neon.projects.get(theirs))
    neon.reset()

    const error = await failureOf(createdAgain({ AdoptProjectId: theirs, OrgId: 'org-quiet-bird-123' }))

    expect(error.message).toMatch(reason)
    expect(neon.requests.filter((request) => request.method !== 'GET')).toEqual([])
    expect(neon.projects.get(theirs)).toEqual(before)
    expect(writtenSecrets()).toEqual([])
  })

  it('refuses an id Neon does not have, saying so', async () => {
    const error = await failureOf(createdAgain({ AdoptProjectId: 'no-such-project-123' }))
    expect(error.message).toMatch(
      /^neonAdoptProjectId names no project Neon has \(no-such-project-123\): check the id in the Neon console/,
    )
    expect(requestLines()).toEqual(['GET /projects/no-such-project-123'])
  })

  it('refuses, on a later deploy, a key naming another project than the stack’s own', async () => {
    const { projectId } = await createProject()
    const other = neon.addProject('PapaAuth-other')
    const error = await failureOf(handler(updateEvent(projectId, { AdoptProjectId: other })))
    expect(error.message).toBe(
      `neonAdoptProjectId names the Neon project ${other}, but this stack's project is ${projectId}: a stack ` +
        'takes a project back only when the stack is created. Remove the context key.',
    )
    expect(neon.requests).toEqual([])
  })
})

describe('the history window (point-in-time restore)', () => {
  const retentionOf = (projectId: string) => neon.projects.get(projectId)?.historyRetentionSeconds
  const patches = () =>
    neon.requests
      .filter((request) => request.method === 'PATCH')
      .map((request) => [request.path, request.body])

  it('is given to Neon with the new project', async () => {
    const { PhysicalResourceId: projectId } = await handler(
      createEvent({ HistoryRetentionSeconds: '604800' }),
    )

    const create = neon.requests.find((request) => request.method === 'POST')
    expect(create?.body).toEqual({ project: expect.objectContaining({ history_retention_seconds: 604800 }) })
    expect(retentionOf(projectId)).toBe(604800)
  })

  it('is the plan’s own when none is given: nothing is sent, at creation or on update', async () => {
    const { projectId } = await createProject()
    expect(retentionOf(projectId)).toBe(DEFAULT_HISTORY_RETENTION_SECONDS)
    const create = neon.requests.find((request) => request.method === 'POST')
    expect(create).toBeUndefined()

    await handler(updateEvent(projectId, {}))

    expect(patches()).toEqual([])
  })

  it('is set in place by an update, only when it differs, in the PATCH that renames', async () => {
    const { projectId, written } = await createProject()

    await handler(updateEvent(projectId, { HistoryRetentionSeconds: '21600', ProjectName: 'auth-prod' }))

    expect(patches()).toEqual([
      [`/projects/${projectId}`, { project: { name: 'auth-prod', history_retention_seconds: 21600 } }],
    ])
    expect(retentionOf(projectId)).toBe(21600)
    expect(writtenSecrets()).toEqual([written])

    neon.reset()
    await handler(
      updateEvent(
        projectId,
        { HistoryRetentionSeconds: '21600', ProjectName: 'auth-prod' },
        { HistoryRetentionSeconds: '21600', ProjectName: 'auth-prod' },
      ),
    )
    expect(patches()).toEqual([])
  })

  it('stays as it is when an update no longer gives it (its removal, or the rollback of the deploy that set it)', async () => {
    const { projectId } = await createProject({ HistoryRetentionSeconds: '604800' })
    await handler(updateEvent(projectId, {}, { HistoryRetentionSeconds: '604800' }))
    expect(patches()).toEqual([])
    expect(retentionOf(projectId)).toBe(604800)
  })

  it('fails the deploy with Neon’s reason when the plan does not allow it, writing nothing', async () => {
    // The Free plan: 6 hours, its default and its limit; a day is asked for.
    const { projectId } = await createProject({ HistoryRetentionSeconds: '21600' })
    neon.limitHistory(21_600)

    const error = await failureOf(
      handler(
        updateEvent(projectId, { HistoryRetentionSeconds: '86400' }, { HistoryRetentionSeconds: '21600' }),
      ),
    )

    expect(error.message).toBe(
      `Neon API PATCH /projects/${projectId} failed with 400: history_retention_seconds 86400 exceeds the limit of your plan (21600)`,
    )
    expect(retentionOf(projectId)).toBe(21600)
    expect(writtenSecrets()).toEqual([])
  })

  it('is set on a project taken back after a teardown', async () => {
    const { projectId } = await createProject()
    await handler(deleteEvent(projectId))
    neon.reset()

    await handler({
      ...createEvent({ AdoptProjectId: projectId, HistoryRetentionSeconds: '172800' }),
      StackId: RECREATED_STACK,
    })

    expect(patches()).toEqual([
      [`/projects/${projectId}`, { project: { history_retention_seconds: 172800 } }],
    ])
    expect(retentionOf(projectId)).toBe(172800)
  })
})

describe('the in-service step', () => {
  it('gives the project its configured name once the deploy has completed, and its removal changes nothing', async () => {
    const { PhysicalResourceId: projectId } = await handler(createEvent())
    neon.reset()

    const result = await handler(inServiceEvent(projectId))

    expect(result).toEqual({ PhysicalResourceId: `${projectId}/in-service` })
    expect(neon.requests.map((request) => [request.method, request.path, request.body])).toEqual([
      ['PATCH', `/projects/${projectId}`, { project: { name: 'PapaAuth' } }],
    ])
    expect(neon.projects.get(projectId)?.name).toBe('PapaAuth')

    neon.reset()
    await expect(handler(inServiceEvent(projectId, 'Delete'))).resolves.toEqual({
      PhysicalResourceId: `${projectId}/in-service`,
    })
    expect(neon.requests).toEqual([])
  })
})

describe('fixed properties, checked against the project as Neon has it', () => {
  it.each([
    ['RegionId', 'aws-us-east-2', 'aws-eu-central-1'],
    ['PgVersion', '16', '17'],
    ['OrgId', 'org-other-7', KEY_ORG_ID],
  ] as const)('refuses a new %s, and the rollback that follows succeeds', async (key, requested, actual) => {
    const { projectId, written } = await createProject()

    const error = await failureOf(handler(updateEvent(projectId, { [key]: requested })))

    expect(error.message).toBe(
      `${key} of the Neon project ${projectId} cannot change (${actual} to ${requested}): the project is ` +
        `${actual}, and another value would mean a new, empty database. Set it back to ${actual}, or create a ` +
        'new stack.',
    )
    expect(requestLines()).toEqual([`GET /projects/${projectId}`])
    expect(writtenSecrets()).toEqual([])
    storeSecret(JSON.stringify(written.value))

    // CloudFormation's rollback: the old properties requested, the refused ones as the old.
    await handler(updateEvent(projectId, {}, { [key]: requested }))

    expect(writtenSecrets()).toEqual([written])
    expect(neon.projects.get(projectId)?.regionId).toBe('aws-eu-central-1')
  })

  it('accepts neonOrgId set later to the organization the project is in, and its rollback', async () => {
    const { projectId, written } = await createProject()
    storeSecret(JSON.stringify(written.value))
    await handler(updateEvent(projectId, { OrgId: KEY_ORG_ID }))
    await handler(updateEvent(projectId, {}, { OrgId: KEY_ORG_ID }))
    expect(writtenSecrets()).toEqual([written, written])
  })

  it('refuses another database or owner, which the project does not have, and the rollback succeeds', async () => {
    const { projectId, written } = await createProject()
    storeSecret(JSON.stringify(written.value))

    const error = await failureOf(handler(updateEvent(projectId, { DatabaseName: 'other_db' })))

    expect(error.message).toBe(
      `DatabaseName and RoleName of the Neon project ${projectId} cannot change: it has no database other_db ` +
        `with the role ${OWNER} (Neon API GET /projects/${projectId}/connection_uri?database_name=other_db&` +
        `role_name=${OWNER}&pooled=false failed with 404: database other_db not found), and another would be a ` +
        'new, empty database. Set them back, or create a new stack.',
    )
    expect(writtenSecrets()).toEqual([])
    await handler(updateEvent(projectId, {}, { DatabaseName: 'other_db' }))
    expect(writtenSecrets()).toEqual([written])
  })

  it('says so when the project was deleted outside the stack', async () => {
    const { projectId } = await createProject()
    neon.projects.delete(projectId)
    await expect(handler(updateEvent(projectId, { ProjectName: 'auth-prod' }))).rejects.toThrow(
      `the Neon project ${projectId} no longer exists (deleted outside this stack?): Neon API GET /projects/${projectId} failed with 404`,
    )
  })
})

describe('time', () => {
  /**
   * What the handler keeps back to answer in: the margin by which "before its timeout" is met, when the handler ends
   * its work on time. It overran its own deadline by at most 73 ms, 5 runs on a 2-core machine with a busy process
   * beside the suite (docs/reliability.md, "Timing assertions and their margins"): 1 s, over ten times that, so the
   * bounds below fail when the handler does not keep the margin (it would then answer past the invocation's end), not
   * when the machine is busy.
   */
  const ANSWER_MARGIN_MS = 1_000
  /** A handler whose margins fit a short invocation, so the tests need not wait minutes. */
  const timedHandler = createNeonHandler({
    secrets: new SecretsManagerClient({ region: 'eu-central-1' }),
    retryDelayMs: 1,
    pollIntervalMs: 20,
    timing: {
      answerMarginMs: ANSWER_MARGIN_MS,
      cleanupReserveMs: 600,
      secretWriteReserveMs: 100,
      minAttemptMs: 100,
    },
  })
  /** Lambda's context, with this much time left for the invocation. */
  const invocation = (remainingMs: number) => {
    const endsAt = Date.now() + remainingMs
    return { getRemainingTimeInMillis: () => endsAt - Date.now() }
  }
  /** The failure, and how long the handler took to answer with it. */
  const timedFailure = async (work: Promise<unknown>) => {
    const started = Date.now()
    const error = await failureOf(work)
    return { error, tookMs: Date.now() - started }
  }

  it('answers before its timeout, with the reason, when Neon is too slow to answer', async () => {
    neon.slowDown(10_000)

    const { error, tookMs } = await timedFailure(timedHandler(createEvent(), invocation(3_000)))

    expect(tookMs).toBeLessThan(3_000)
    // The time it waited is what was left of the create's share (1.4 s) once the API key was read: a busy machine
    // takes longer to read it.
    expect(error.message).toMatch(
      /^Neon API GET \/projects\?search=PapaAuth&limit=400 failed: Neon did not answer within \d\.\d s, all the time left before the handler must answer$/,
    )
    expect(neon.requests.filter((request) => request.method === 'POST')).toEqual([])
  })

  it('stops waiting for the new project’s operations in time to remove it, and says so', async () => {
    neon.failNext(
      'GET /projects/*/operations/*',
      ...Array.from({ length: 1_000 }, () => ({
        status: 200,
        body: { operation: { id: 'op-compute', status: 'running' } },
      })),
    )

    const { error, tookMs } = await timedFailure(timedHandler(createEvent(), invocation(3_500)))

    expect(tookMs).toBeLessThan(3_500)
    expect(error.message).toMatch(
      /^Neon project quiet-bird-\d+: operations still running after \d+(\.\d)? s, all the time left before the handler must answer$/,
    )
    expect(requestLines().at(-1)).toMatch(/^DELETE \/projects\/quiet-bird-/)
    expect(projectsNamedLikeConfigured()).toEqual([])
    expect(writtenSecrets()).toEqual([])
  })

  it('keeps the project and answers in time when Neon is too slow during a Delete', async () => {
    const { projectId } = await createProject()
    neon.slowDown(10_000)
    const started = Date.now()

    await expect(timedHandler(deleteEvent(projectId), invocation(2_500))).resolves.toEqual({
      PhysicalResourceId: projectId,
    })

    expect(Date.now() - started).toBeLessThan(2_500)
    expect(neon.projects.get(projectId)?.name).toBe('PapaAuth')
  })
})
