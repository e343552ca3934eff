/** Neon's public API. The provider's `ApiUrl` property may point elsewhere (the tests' local fake). */
export const NEON_API_URL = 'https://console.neon.tech/api/v2'

/** Statuses worth another try: the project is locked by a running operation, rate limited, or Neon is unwell. */
const RETRYABLE_STATUSES = new Set([423, 429, 500, 502, 503, 504])
/**
 * A POST (create project) is retried only when Neon said it did nothing: after a timeout or a 5xx the project may
 * exist, and a second POST would make a second one.
 */
const RETRYABLE_POST_STATUSES = new Set([423, 429])
const MAX_ATTEMPTS = 5
const REQUEST_TIMEOUT_MS = 30_000
/** No attempt starts with less time than this before the deadline: it could not get an answer anyway. */
const MIN_ATTEMPT_MS = 1_000
const MAX_REASON_CHARS = 300

/** A failed call, with a reason fit for a CloudFormation event: method, path, status and Neon's own message. */
export class NeonApiError extends Error {
  override readonly name = 'NeonApiError'
  readonly status: number | undefined
  constructor(message: string, status?: number) {
    super(message)
    this.status = status
  }
}

export interface ConnectionParameters {
  database: string
  role: string
  host: string
  pooler_host?: string
}

export interface Operation {
  id: string
  status: string
}

/** A project as Neon describes it (`GET /projects/{id}`, and each entry of `GET /projects`): the fields read here. */
export interface Project {
  id: string
  name: string
  region_id: string
  pg_version: number
  org_id?: string
  /** ISO 8601. */
  created_at: string
  /** How far back the project's history reaches (the restore window), in seconds. */
  history_retention_seconds?: number
}

/** A compute endpoint as Neon describes it (`GET /projects/{id}/endpoints`): the fields read here. */
export interface Endpoint {
  id: string
  /** The host a direct connection string names, e.g. `ep-cool-darkness-123456.eu-central-1.aws.neon.tech`. */
  host: string
  branch_id: string
  type: string
  autoscaling_limit_min_cu: number
  autoscaling_limit_max_cu: number
  suspend_timeout_seconds: number
}

export interface CreatedProject {
  project: { id: string; name: string }
  connection_uris?: { connection_uri: string; connection_parameters: ConnectionParameters }[]
  operations?: Operation[]
}

export interface NeonApi {
  request<T>(method: string, path: string, body?: unknown): Promise<T>
  /** The same client, bound to answer by `deadline` (epoch milliseconds) if that is sooner than its own. */
  by(deadline: number): NeonApi
}

export interface NeonApiOptions {
  baseUrl: string
  apiKey: string
  /** The first retry's delay; each further retry waits twice as long. */
  retryDelayMs: number
  /**
   * When the caller must have its answer (epoch milliseconds): each attempt is cut off by it, and no attempt or retry
   * starts that could not finish before it. None: only the per-attempt timeout bounds a call.
   */
  deadline?: number
  /** Per attempt; the deadline may cut it shorter. */
  requestTimeoutMs?: number
  /** The least time worth an attempt. */
  minAttemptMs?: number
  fetch?: typeof fetch
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A minimal client for the few Neon endpoints the provider calls, with retries for transient failures. */
export function createNeonApi(options: NeonApiOptions): NeonApi {
  const send = options.fetch ?? fetch
  const base = options.baseUrl.replace(/\/+$/, '')
  const deadline = options.deadline ?? Number.POSITIVE_INFINITY
  const requestTimeoutMs = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS
  const minAttemptMs = options.minAttemptMs ?? MIN_ATTEMPT_MS
  // Neon never echoes the key, but a proxy or a future error format might: a reason must never carry it.
  const redact = (text: string) => text.split(options.apiKey).join('[redacted]')
  /** Whether there is time to wait `delayMs` and then make one more attempt. */
  const timeForAnother = (delayMs: number) => Date.now() + delayMs + minAttemptMs <= deadline

  return {
    by: (earlier: number) => createNeonApi({ ...options, deadline: Math.min(deadline, earlier) }),
    async request<T>(method: string, path: string, body?: unknown): Promise<T> {
      const what = `Neon API ${method} ${path}`
      for (let attempt = 1; ; attempt++) {
        const left = deadline - Date.now()
        if (left < minAttemptMs) {
          throw new NeonApiError(`${what} not sent: the handler's time is up (${seconds(left)} left)`)
        }
        const timeoutMs = Math.min(requestTimeoutMs, left)
        const delayMs = options.retryDelayMs * 2 ** (attempt - 1)
        let response: Response
        try {
          response = await send(`${base}${path}`, {
            method,
            headers: {
              authorization: `Bearer ${options.apiKey}`,
              accept: 'application/json',
              ...(body === undefined ? {} : { 'content-type': 'application/json' }),
            },
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
            signal: AbortSignal.timeout(timeoutMs),
          })
        } catch (error) {
          if (method !== 'POST' && attempt < MAX_ATTEMPTS && timeForAnother(delayMs)) {
            await sleep(delayMs)
            continue
          }
          throw new NeonApiError(
            redact(`${what} failed: ${unreachable(error, timeoutMs, timeoutMs < requestTimeoutMs)}`),
          )
        }
        if (response.ok) return parseBody<T>(await response.text(), what)
        const retryable = method === 'POST' ? RETRYABLE_POST_STATUSES : RETRYABLE_STATUSES
        if (retryable.has(response.status) && attempt < MAX_ATTEMPTS && timeForAnother(delayMs)) {
          await response.body?.cancel()
          await sleep(delayMs)
          continue
        }
        const reason = await errorMessage(response)
        throw new NeonApiError(
          redact(`${what} failed with ${response.status}${reason ? `: ${reason}` : ''}`),
          response.status,
        )
      }
    },
  }
}

/** Why no answer came: our own timeout (cut short by the deadline, or not), or the network's reason. */
function unreachable(error: unknown, timeoutMs: number, cutByDeadline: boolean): string {
  if (error instanceof Error && error.name === 'TimeoutError') {
    return cutByDeadline
      ? `Neon did not answer within ${seconds(timeoutMs)}, all the time left before the handler must answer`
      : `Neon did not answer within ${seconds(timeoutMs)}`
  }
  return `Neon could not be reached (${networkReason(error)})`
}

/** A duration for a reason: `1.5 s`, `30 s`. */
export const seconds = (ms: number) => `${Math.max(0, Math.round(ms / 100) / 10)} s`

/** A success's JSON body. JSON.parse quotes its input in the message, and this input may hold a password. */
function parseBody<T>(text: string, what: string): T {
  if (text === '') return undefined as T
  try {
    return JSON.parse(text) as T
  } catch {
    throw new NeonApiError(`${what} answered with a body that is not JSON`)
  }
}

/** Neon's `{"message": …}`, or the start of whatever text came back. */
async function errorMessage(response: Response): Promise<string> {
  const text = await response.text().catch(() => '')
  let message = text
  try {
    const parsed: unknown = JSON.parse(text)
    if (typeof parsed === 'object' && parsed !== null && 'message' in parsed) message = String(parsed.message)
  } catch {
    // Not JSON: keep the text itself.
  }
  const oneLine = message.replace(/\s+/g, ' ').trim()
  return oneLine.length > MAX_REASON_CHARS ? `${oneLine.slice(0, MAX_REASON_CHARS)}…` : oneLine
}

function networkReason(error: unknown): string {
  const cause =
    error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined
  if (cause && typeof cause.code === 'string') return cause.code
  if (cause && typeof cause.message === 'string') return cause.message
  return error instanceof Error ? error.name : 'unknown error'
}
