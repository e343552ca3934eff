import { type AwsCredentials, awsRequest, backoffMs, sleep } from './aws-client.ts'
import { serviceEndpoint } from './aws-endpoints.ts'

/** Fetches one secret's current string value (one `GetSecretValue`). */
export type SecretFetcher = (secretId: string) => Promise<string>

export interface SecretReader {
  /** The secret's string value, fetched once per container and cached; a failed fetch is retried next time. */
  read(secretId: string): Promise<string>
  /** The secret's value read again now (a rotated key set), then cached as `read` caches it. */
  reread(secretId: string): Promise<string>
}

/** The one cache in front of Secrets Manager; the fetcher is passed in (`secretsManagerFetcher` in AWS). */
export function createSecretReader(fetchSecret: SecretFetcher): SecretReader {
  const cache = new Map<string, Promise<string>>()
  const fetchAndCache = (secretId: string) => {
    const value = fetchSecret(secretId)
    value.catch(() => {
      if (cache.get(secretId) === value) cache.delete(secretId)
    })
    cache.set(secretId, value)
    return value
  }
  return {
    read: (secretId) => cache.get(secretId) ?? fetchAndCache(secretId),
    reread: fetchAndCache,
  }
}

/** Secrets Manager's answer to a refused call, as its JSON protocol names it (`__type`); never its message. */
export class SecretsManagerError extends Error {
  override readonly name = 'SecretsManagerError'
  readonly type: string
  readonly status: number
  constructor(type: string, status: number) {
    super(`Secrets Manager answered ${status} ${type}`)
    this.type = type
    this.status = status
  }
}

export interface SecretsManagerSettings {
  region: string
  credentials: AwsCredentials
  /**
   * Secrets Manager's endpoint (AWS_ENDPOINT_URL_SECRETS_MANAGER for a stand-in); by default the region's, in its
   * partition, its FIPS one with `fips` (AWS_USE_FIPS_ENDPOINT).
   */
  endpoint?: string | undefined
  fips?: boolean | undefined
  /** Each attempt, connecting and answering together. */
  attemptTimeoutMs: number
  maxAttempts: number
  /** The longest wait between two attempts (the jittered backoff is cut to it). */
  maxBackoffMs: number
  /**
   * Work to do, once, while the first call is on its way: a cold start's other CPU work (loading the database
   * driver's WebSocket client) then overlaps the wait instead of following it.
   */
  whileWaiting?: (() => void) | undefined
}

/**
 * `GetSecretValue` as one signed POST to Secrets Manager's JSON API (AWS JSON 1.1): what the SDK's client sends, with
 * nothing of it evaluated at cold start. A throttled or failed call, a timeout or a dropped connection is tried
 * again, up to `maxAttempts`, after a jittered backoff (`backoffMs`); a refusal (a 4xx: no such secret, no
 * permission) is final. Each attempt has a timeout of its own, so an attempt that a frozen container left hanging
 * ends at the thaw and the next one starts afresh.
 */
export function secretsManagerFetcher(settings: SecretsManagerSettings): SecretFetcher {
  const endpoint = settings.endpoint ?? serviceEndpoint('secretsmanager', settings.region, settings.fips)
  let waiting = settings.whileWaiting
  const onSent = () => {
    const work = waiting
    waiting = undefined
    work?.()
  }
  const attempt = async (secretId: string) => {
    const answer = await awsRequest({
      service: 'secretsmanager',
      region: settings.region,
      credentials: settings.credentials,
      endpoint,
      path: '/',
      headers: {
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': 'secretsmanager.GetSecretValue',
      },
      body: JSON.stringify({ SecretId: secretId }),
      timeoutMs: settings.attemptTimeoutMs,
      onSent,
    })
    let body: { SecretString?: unknown; __type?: unknown } = {}
    try {
      body = JSON.parse(answer.body) as typeof body
    } catch {
      // An answer that is no JSON (a proxy's error page): judged by its status alone.
    }
    if (answer.status < 200 || answer.status >= 300) {
      const type =
        String(body.__type ?? 'UnknownError')
          .split('#')
          .pop() || 'UnknownError'
      throw new SecretsManagerError(type, answer.status)
    }
    if (typeof body.SecretString !== 'string') throw new Error(`secret ${secretId} has no string value`)
    return body.SecretString
  }
  return async (secretId) => {
    for (let tries = 1; ; tries++) {
      try {
        return await attempt(secretId)
      } catch (error) {
        // Secrets Manager answers throttling with a 400 and its type, as the SDK knows.
        const throttled =
          error instanceof SecretsManagerError && (/Throttl/.test(error.type) || error.status === 429)
        const final = error instanceof SecretsManagerError && error.status < 500 && !throttled
        if (final || tries >= settings.maxAttempts) throw error
        await sleep(backoffMs(tries, throttled, settings.maxBackoffMs))
      }
    }
  }
}

/** Reads one field of a JSON secret that may not hold it (the database secret's `cleanupUrl`); undefined then. */
export async function readOptionalJsonField(
  reader: SecretReader,
  secretId: string,
  field: string,
): Promise<string | undefined> {
  const parsed: unknown = JSON.parse(await reader.read(secretId))
  const value =
    typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>)[field] : undefined
  return typeof value === 'string' && value !== '' ? value : undefined
}

/** Reads one field of a JSON secret (the database secret holds `pooledUrl` and `directUrl`). */
export async function readJsonField(reader: SecretReader, secretId: string, field: string): Promise<string> {
  const parsed: unknown = JSON.parse(await reader.read(secretId))
  const value =
    typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>)[field] : undefined
  if (typeof value !== 'string' || value === '') throw new Error(`secret ${secretId} has no field ${field}`)
  return value
}
