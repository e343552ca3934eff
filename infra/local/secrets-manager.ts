import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

const CURRENT = 'AWSCURRENT'
const PENDING = 'AWSPENDING'
const PREVIOUS = 'AWSPREVIOUS'

interface Version {
  readonly id: string
  /** Undefined for the empty version Secrets Manager makes when a rotation starts, until createSecret fills it. */
  value: string | undefined
  readonly stages: Set<string>
  readonly created: number
}

interface Secret {
  readonly versions: Version[]
  rotationEnabled: boolean
}

type ErrorType =
  | 'ResourceNotFoundException'
  | 'InvalidParameterException'
  | 'InvalidRequestException'
  | 'ResourceExistsException'

class ServiceError extends Error {
  readonly type: ErrorType
  constructor(type: ErrorType, message: string) {
    super(message)
    this.type = type
  }
}

interface Input {
  SecretId?: string
  VersionId?: string
  VersionStage?: string
  VersionStages?: string[]
  ClientRequestToken?: string
  SecretString?: string
  MoveToVersionId?: string
  RemoveFromVersionId?: string
}

/**
 * A local stand-in for Secrets Manager over its real wire protocol (AWS JSON 1.1), on 127.0.0.1: `GetSecretValue`
 * (by stage or version), and the calls of a rotation function: `DescribeSecret`, `PutSecretValue` with its stages,
 * `UpdateSecretVersionStage`, with the staging-label rules of the service (a stage is on one version at most; the
 * version that loses AWSCURRENT gets AWSPREVIOUS; a token reused with another value is refused). `values` holds each
 * secret's AWSCURRENT value: a test's `values.set` is a put-secret-value, and every write shows there. A built bundle
 * run in a child process reaches it through AWS_ENDPOINT_URL_SECRETS_MANAGER, so the SDK client inside the bundle is
 * the one exercised, as deployed. Records which secrets were read, and every call.
 */
export async function startLocalSecretsManager(values: Map<string, string>) {
  const reads: string[] = []
  const calls: string[] = []
  const secrets = new Map<string, Secret>()
  let clock = 0
  let latencyMs = 0

  const holder = (secret: Secret, stage: string) =>
    secret.versions.find((version) => version.stages.has(stage))
  const addVersion = (secret: Secret, id: string, value: string | undefined): Version => {
    const version: Version = { id, value, stages: new Set(), created: ++clock }
    secret.versions.push(version)
    return version
  }
  /** Attaches a stage to a version, taking it from whichever version has it; AWSCURRENT leaves AWSPREVIOUS behind. */
  const attach = (secret: Secret, version: Version, stage: string) => {
    const from = holder(secret, stage)
    if (from === version) return
    from?.stages.delete(stage)
    if (stage === CURRENT && from) {
      holder(secret, PREVIOUS)?.stages.delete(PREVIOUS)
      from.stages.add(PREVIOUS)
    }
    version.stages.add(stage)
  }

  /** The secret as it is now; a value set in `values` since the last call is a new AWSCURRENT version. */
  const find = (secretId: string): Secret => {
    let secret = secrets.get(secretId)
    const value = values.get(secretId)
    if (value === undefined) {
      if (!secret)
        throw new ServiceError(
          'ResourceNotFoundException',
          "Secrets Manager can't find the specified secret.",
        )
      return secret
    }
    if (!secret) {
      secret = { versions: [], rotationEnabled: false }
      secrets.set(secretId, secret)
    }
    if (holder(secret, CURRENT)?.value !== value)
      attach(secret, addVersion(secret, `local-${clock + 1}`, value), CURRENT)
    return secret
  }
  const versionOf = (secretId: string, versionId: string) =>
    find(secretId).versions.find((version) => version.id === versionId)
  const syncCurrent = (secretId: string, secret: Secret) => {
    const value = holder(secret, CURRENT)?.value
    if (value !== undefined) values.set(secretId, value)
  }

  const operations: Record<string, (input: Input, secretId: string) => object> = {
    DescribeSecret(_input, secretId) {
      const secret = find(secretId)
      return {
        ARN: secretId,
        Name: secretId.split(':').at(-1),
        RotationEnabled: secret.rotationEnabled,
        // As the service: only versions with a stage are listed (the others are deprecated).
        VersionIdsToStages: Object.fromEntries(
          secret.versions
            .filter((version) => version.stages.size > 0)
            .map((version) => [version.id, [...version.stages]]),
        ),
      }
    },
    GetSecretValue(input, secretId) {
      reads.push(secretId)
      const secret = find(secretId)
      const stage = input.VersionId === undefined ? (input.VersionStage ?? CURRENT) : input.VersionStage
      const version = secret.versions.find(
        (candidate) =>
          (input.VersionId === undefined || candidate.id === input.VersionId) &&
          (stage === undefined || candidate.stages.has(stage)),
      )
      if (version?.value === undefined)
        throw new ServiceError(
          'ResourceNotFoundException',
          `Secrets Manager can't find the specified secret value for VersionId: ${input.VersionId ?? '-'}, staging label: ${stage ?? '-'}`,
        )
      return {
        ARN: secretId,
        Name: secretId.split(':').at(-1),
        SecretString: version.value,
        VersionId: version.id,
        VersionStages: [...version.stages],
        CreatedDate: 1_700_000_000 + version.created,
      }
    },
    PutSecretValue(input, secretId) {
      if (input.SecretString === undefined)
        throw new ServiceError('InvalidParameterException', 'no SecretString')
      const secret = find(secretId)
      const token = input.ClientRequestToken ?? `local-${clock + 1}`
      let version = secret.versions.find((candidate) => candidate.id === token)
      if (version?.value !== undefined && version.value !== input.SecretString)
        throw new ServiceError(
          'ResourceExistsException',
          'You can’t modify an existing version, you can only create a new version.',
        )
      if (version) version.value = input.SecretString
      else version = addVersion(secret, token, input.SecretString)
      for (const stage of input.VersionStages ?? [CURRENT]) attach(secret, version, stage)
      syncCurrent(secretId, secret)
      return {
        ARN: secretId,
        Name: secretId.split(':').at(-1),
        VersionId: version.id,
        VersionStages: [...version.stages],
      }
    },
    UpdateSecretVersionStage(input, secretId) {
      const secret = find(secretId)
      const stage = input.VersionStage ?? ''
      const from = holder(secret, stage)
      if (from && from.id !== input.RemoveFromVersionId && from.id !== input.MoveToVersionId)
        throw new ServiceError(
          'InvalidParameterException',
          `The staging label ${stage} is currently attached to version ${from.id}, so you must explicitly reference that version in RemoveFromVersionId.`,
        )
      if (input.MoveToVersionId !== undefined) {
        const to = secret.versions.find((candidate) => candidate.id === input.MoveToVersionId)
        if (!to) throw new ServiceError('ResourceNotFoundException', `no version ${input.MoveToVersionId}`)
        attach(secret, to, stage)
      } else if (from) {
        if (stage === CURRENT)
          throw new ServiceError(
            'InvalidParameterException',
            'AWSCURRENT can only be moved to another version.',
          )
        from.stages.delete(stage)
      }
      syncCurrent(secretId, secret)
      return { ARN: secretId, Name: secretId.split(':').at(-1) }
    },
  }

  const server = createServer(async (request, response) => {
    const chunks: Buffer[] = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    const target = String(request.headers['x-amz-target'] ?? '')
    const input = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Input
    const send = (status: number, body: object, errorType?: string) => {
      response.writeHead(status, {
        'content-type': 'application/x-amz-json-1.1',
        'x-amzn-requestid': 'fake-request',
        ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
      })
      response.end(JSON.stringify(body))
    }
    const name = target.replace(/^secretsmanager\./, '')
    const operation = target.startsWith('secretsmanager.') ? operations[name] : undefined
    if (!operation) {
      const message = `the local Secrets Manager serves no ${target}`
      send(400, { __type: 'InvalidRequestException', message }, 'InvalidRequestException')
      return
    }
    const secretId = input.SecretId ?? ''
    calls.push(`${name} ${secretId}`)
    if (latencyMs > 0) await new Promise((done) => setTimeout(done, latencyMs))
    try {
      send(200, operation(input, secretId))
    } catch (error) {
      if (!(error instanceof ServiceError)) throw error
      send(400, { __type: error.type, message: error.message }, error.type)
    }
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    reads,
    /** Every call, as `<Operation> <SecretId>`, in order. */
    calls,
    /**
     * What Secrets Manager does when a rotation starts (`rotate-secret`, or the schedule): turns rotation on and
     * attaches AWSPENDING to a new, empty version named by the token; then it invokes the rotation function.
     */
    startRotation(secretId: string, token: string) {
      const secret = find(secretId)
      const pending = holder(secret, PENDING)
      if (pending && !pending.stages.has(CURRENT))
        throw new Error('A previous rotation isn’t complete. That rotation will be reattempted.')
      secret.rotationEnabled = true
      attach(secret, addVersion(secret, token, undefined), PENDING)
    },
    /**
     * What Secrets Manager does when a rotation schedule changes without rotating (RotateImmediately false, as
     * CloudFormation asks on an update of the schedule and on its rollback): refuses while a rotation is pending, as
     * RotateSecret does; attaches AWSPENDING to a version it makes, then invokes testSecret alone, and takes the label
     * off afterwards (`endConfigurationTest`). Its documentation does not say what that version holds: a copy of
     * AWSCURRENT, or nothing (`holds`).
     */
    startConfigurationTest(secretId: string, token: string, holds: 'a copy of AWSCURRENT' | 'nothing') {
      const secret = find(secretId)
      const pending = holder(secret, PENDING)
      if (pending && !pending.stages.has(CURRENT))
        throw new Error('A previous rotation isn’t complete. That rotation will be reattempted.')
      secret.rotationEnabled = true
      const copy = holds === 'nothing' ? undefined : holder(secret, CURRENT)?.value
      attach(secret, addVersion(secret, token, copy), PENDING)
    },
    endConfigurationTest(secretId: string, token: string) {
      versionOf(secretId, token)?.stages.delete(PENDING)
    },
    /** The secret's versions that carry a stage, by id, as DescribeSecret lists them. */
    stages(secretId: string): Record<string, string[]> {
      const secret = find(secretId)
      return Object.fromEntries(
        secret.versions
          .filter((version) => version.stages.size > 0)
          .map((version) => [version.id, [...version.stages].sort()]),
      )
    },
    /** Answers every call this much later (a test that needs a call to be in flight when something happens). */
    setLatency(ms: number) {
      latencyMs = ms
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
