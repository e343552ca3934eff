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

export interface CreatedProject {
  project: { id: string; name: string }
  connection_uris?: { connection_uri: string; connection_parameters: ConnectionParameters }[]
  operations?: Operation[]
}

export interface NeonApi {
  request<T>(method: string, path: string, body?: unknown): Promise<T>
}

export interface NeonApiOptions {
  baseUrl: string
  apiKey: string
  /** The first retry's delay; each further retry waits twice as long. */
  retryDelayMs: number
  fetch?: typeof fetch
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A minimal client for the few Neon endpoints the provider calls, with retries for transient failures. */
export function createNeonApi(options: NeonApiOptions): NeonApi {
  const send = options.fetch ?? fetch
  const base = options.baseUrl.replace(/\/+$/, '')
  // Neon never echoes the key, but a proxy or a future error format might: a reason must never carry it.
  const redact = (text: string) => text.split(options.apiKey).join('[redacted]')

  return {
    async request<T>(method: string, path: string, body?: unknown): Promise<T> {
      const what = `Neon API ${method} ${path}`
      for (let attempt = 1; ; attempt++) {
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
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          })
        } catch (error) {
          if (method !== 'POST' && attempt < MAX_ATTEMPTS) {
            await sleep(options.retryDelayMs * 2 ** (attempt - 1))
            continue
          }
          throw new NeonApiError(
            redact(`${what} failed: Neon could not be reached (${networkReason(error)})`),
          )
        }
        if (response.ok) return parseBody<T>(await response.text(), what)
        const retryable = method === 'POST' ? RETRYABLE_POST_STATUSES : RETRYABLE_STATUSES
        if (retryable.has(response.status) && attempt < MAX_ATTEMPTS) {
          await response.body?.cancel()
          await sleep(options.retryDelayMs * 2 ** (attempt - 1))
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
