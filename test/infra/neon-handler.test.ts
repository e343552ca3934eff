import {
  GetSecretValueCommand,
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
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { freePort } from '#infra/local/postgres'
import { type ConnectionStrings, createNeonHandler } from '#infra/neon/handler'
import type { NeonProjectProperties } from '#infra/neon/properties'
import { startFakeNeon } from './fake-neon.ts'

const API_KEY = 'napi_k3y0nlyth3t3stkn0ws'
const API_KEY_SECRET = 'papa-auth/neon-api-key'
const DATABASE_SECRET = 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:DatabaseSecret-AbCdEf'
const OWNER = 'papa_auth_owner'
const API_ROLE = 'papa_auth_api'
/** A resource as a stack from before the API's role delivers it, and as a rollback to such a stack does. */
const BEFORE_API_ROLE = { ApiRoleName: undefined }

const secretsManager = mockClient(SecretsManagerClient)
let neon: Awaited<ReturnType<typeof startFakeNeon>>
let output: string[]

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
  secretsManager.reset()
  secretsManager
    .on(GetSecretValueCommand, { SecretId: API_KEY_SECRET })
    .resolves({ SecretString: `${API_KEY}\n` })
  secretsManager.on(PutSecretValueCommand).resolves({})
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
  }
}

/** A project made by Create, and the strings Create wrote; the requests and calls so far are forgotten. */
const createProject = async (overrides: Partial<NeonProjectProperties> = {}) => {
  const result = await handler(createEvent(overrides))
  const [written] = writtenSecrets()
  if (!written) throw new Error('Create wrote no secret')
  neon.reset()
  secretsManager.resetHistory()
  return { projectId: result.PhysicalResourceId, written }
}

const requestLines = () => neon.requests.map((request) => `${request.method} ${request.path}`)

const usersIn = ({ pooledUrl, directUrl }: ConnectionStrings) => ({
  pooled: new URL(pooledUrl).username,
  direct: new URL(directUrl).username,
})

describe('create', () => {
  it('creates the project and the API’s role, waits for their operations, and writes both strings into the secret', async () => {
    const result = await handler(createEvent({ OrgId: 'org-quiet-bird-123' }))

    const [create, ...rest] = neon.requests
    expect(create).toEqual({
      method: 'POST',
      path: '/projects',
      query: {},
      authorization: `Bearer ${API_KEY}`,
      body: {
        project: {
          name: 'PapaAuth',
          region_id: 'aws-eu-central-1',
          pg_version: 17,
          org_id: 'org-quiet-bird-123',
          branch: { database_name: 'papa_auth', role_name: 'papa_auth_owner' },
        },
      },
    })
    const projectId = result.PhysicalResourceId
    // Only running operations are polled, until they finish; the role is made once the project's are done.
    expect(rest.map((request) => [`${request.method} ${request.path}`, request.body])).toEqual([
      [`GET /projects/${projectId}/operations/op-compute-${projectId}`, undefined],
      [`GET /projects/${projectId}/operations/op-compute-${projectId}`, undefined],
      [`POST /projects/${projectId}/branches/br-${projectId}/roles`, { role: { name: API_ROLE } }],
      [`GET /projects/${projectId}/operations/op-role-${API_ROLE}-${projectId}`, undefined],
      [`GET /projects/${projectId}/operations/op-role-${API_ROLE}-${projectId}`, undefined],
    ])
    const strings = neon.connectionStrings(projectId, API_ROLE)
    expect(writtenSecrets()).toEqual([{ SecretId: DATABASE_SECRET, value: strings }])
    const pooled = new URL(strings.pooledUrl)
    const direct = new URL(strings.directUrl)
    expect(usersIn(strings)).toEqual({ pooled: API_ROLE, direct: OWNER })
    expect(pooled.password).toMatch(/^npg_secret\d+$/)
    expect(direct.password).toMatch(/^npg_secret\d+$/)
    expect(pooled.password).not.toBe(direct.password)
    expect(pooled.hostname).toBe(`ep-${projectId}-pooler.eu-central-1.aws.neon.tech`)
    expect(direct.hostname).toBe(`ep-${projectId}.eu-central-1.aws.neon.tech`)
    expect(pooled.searchParams.get('sslmode')).toBe('require')
    expect(result).toEqual({ PhysicalResourceId: projectId, Data: { ProjectId: projectId } })
    expectNothingSecretIn(JSON.stringify(result))
  })

  it('writes the owner into both strings for a resource that names no API role (one from before it)', async () => {
    const result = await handler(createEvent(BEFORE_API_ROLE))
    const projectId = result.PhysicalResourceId
    expect(neon.requests.filter((request) => request.path.includes('/roles'))).toEqual([])
    expect(writtenSecrets()).toEqual([
      { SecretId: DATABASE_SECRET, value: neon.connectionStrings(projectId, OWNER) },
    ])
  })

  it('sends no org_id when none is configured, and reads a key stored as JSON', async () => {
    secretsManager.on(GetSecretValueCommand, { SecretId: API_KEY_SECRET }).resolves({
      SecretString: JSON.stringify({ apiKey: API_KEY }),
    })
    await handler(createEvent())
    expect(neon.requests[0]?.authorization).toBe(`Bearer ${API_KEY}`)
    expect(neon.requests[0]?.body).toEqual({
      project: expect.not.objectContaining({ org_id: expect.anything() }),
    })
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
    expect(writtenSecrets()).toEqual([
      { SecretId: DATABASE_SECRET, value: neon.connectionStrings(projectId, API_ROLE) },
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
  it('renames the project and writes the connection strings again, keeping the physical id', async () => {
    const { projectId } = await createProject()
    const result = await handler(updateEvent(projectId, { ProjectName: 'auth-prod' }))

    expect(
      neon.requests.map((request) => [request.method, request.path, request.body ?? request.query]),
    ).toEqual(
      expect.arrayContaining([
        ['PATCH', `/projects/${projectId}`, { project: { name: 'auth-prod' } }],
        [
          'GET',
          `/projects/${projectId}/connection_uri`,
          { database_name: 'papa_auth', role_name: OWNER, pooled: 'false' },
        ],
        [
          'GET',
          `/projects/${projectId}/connection_uri`,
          { database_name: 'papa_auth', role_name: API_ROLE, pooled: 'true' },
        ],
      ]),
    )
    // Beside those: the look-up of the default branch and its roles.
    expect(neon.requests).toHaveLength(5)
    expect(neon.projects.get(projectId)?.name).toBe('auth-prod')
    expect(writtenSecrets()).toEqual([
      { SecretId: DATABASE_SECRET, value: neon.connectionStrings(projectId, API_ROLE) },
    ])
    expect(result).toEqual({ PhysicalResourceId: projectId, Data: { ProjectId: projectId } })
  })

  it('keeps the API’s role when it exists: no new role, no new password, the strings Create wrote', async () => {
    const { projectId, written } = await createProject()
    await handler(updateEvent(projectId, {}))

    expect(requestLines()).toEqual([
      `GET /projects/${projectId}/branches`,
      `GET /projects/${projectId}/branches/br-${projectId}/roles`,
      `GET /projects/${projectId}/connection_uri`,
      `GET /projects/${projectId}/connection_uri`,
    ])
    expect(writtenSecrets()).toEqual([written])
    expect(usersIn(written.value)).toEqual({
      pooled: API_ROLE,
      direct: OWNER,
    })
  })

  it('moves a project made before the API’s role to one: creates it on the default branch, then rewrites the secret', async () => {
    const { projectId, written } = await createProject(BEFORE_API_ROLE)
    expect(written.value).toEqual(neon.connectionStrings(projectId, OWNER))

    const result = await handler(updateEvent(projectId, {}, BEFORE_API_ROLE))

    expect(requestLines()).toEqual([
      `GET /projects/${projectId}/branches`,
      `GET /projects/${projectId}/branches/br-${projectId}/roles`,
      `POST /projects/${projectId}/branches/br-${projectId}/roles`,
      `GET /projects/${projectId}/operations/op-role-${API_ROLE}-${projectId}`,
      `GET /projects/${projectId}/operations/op-role-${API_ROLE}-${projectId}`,
      `GET /projects/${projectId}/connection_uri`,
      `GET /projects/${projectId}/connection_uri`,
    ])
    expect([...(neon.projects.get(projectId)?.roles.keys() ?? [])]).toEqual([OWNER, API_ROLE])
    const strings = neon.connectionStrings(projectId, API_ROLE)
    expect(writtenSecrets()).toEqual([{ SecretId: DATABASE_SECRET, value: strings }])
    expect(usersIn(strings)).toEqual({ pooled: API_ROLE, direct: OWNER })
    // The owner's string, which the migrations use, is the one it was.
    expect(strings.directUrl).toBe(written.value.directUrl)
    expect(result).toEqual({ PhysicalResourceId: projectId, Data: { ProjectId: projectId } })
    expectNothingSecretIn(JSON.stringify(result))
  })

  it('points both strings at the owner again when rolled back to a resource from before the API’s role', async () => {
    const { projectId } = await createProject()
    await handler(updateEvent(projectId, BEFORE_API_ROLE, {}))
    expect(neon.requests.filter((request) => request.path.includes('/roles'))).toEqual([])
    expect(writtenSecrets()).toEqual([
      { SecretId: DATABASE_SECRET, value: neon.connectionStrings(projectId, OWNER) },
    ])
  })

  it('refuses to move the project to another region, which would mean a new empty database', async () => {
    const { projectId } = await createProject()
    await expect(handler(updateEvent(projectId, { RegionId: 'aws-us-east-2' }))).rejects.toThrow(
      `RegionId of the Neon project ${projectId} cannot change (aws-eu-central-1 to aws-us-east-2)`,
    )
    expect(neon.requests).toEqual([])
    expect(writtenSecrets()).toEqual([])
  })
})

describe('delete', () => {
  it('keeps the project by default, without calling Neon', async () => {
    const { projectId } = await createProject()
    const result = await handler(deleteEvent(projectId))
    expect(result).toEqual({ PhysicalResourceId: projectId })
    expect(neon.requests).toEqual([])
    expect(neon.projects.has(projectId)).toBe(true)
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
    expect(neon.requests[0]?.method).toBe('POST')
    const deleted = neon.requests.at(-1)
    expect(deleted?.method).toBe('DELETE')
    const projectId = deleted?.path.replace('/projects/', '') ?? ''
    expect(projectId).toMatch(/^quiet-bird-/)
    expect(neon.projects.has(projectId)).toBe(false)
    expectNothingSecretIn(error.message)
  })

  it('removes a project it just created when the API’s role cannot be created, with Neon’s reason', async () => {
    neon.failNext('POST /projects/*/branches/*/roles', {
      status: 500,
      body: { code: '', message: 'could not create the role' },
    })
    const error = await failureOf(handler(createEvent()))
    const projectId = neon.requests.at(-1)?.path.replace('/projects/', '') ?? ''
    expect(error.message).toBe(
      `Neon API POST /projects/${projectId}/branches/br-${projectId}/roles failed with 500: could not create the role`,
    )
    expect(neon.requests.at(-1)?.method).toBe('DELETE')
    expect(neon.projects.has(projectId)).toBe(false)
    expect(writtenSecrets()).toEqual([])
    expectNothingSecretIn(error.message, String(error.stack))
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
      /^Neon API POST \/projects failed: Neon could not be reached \(ECONNREFUSED\)$/,
    )
  })
})
