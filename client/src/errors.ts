import type { GatewayUnauthorized, HTTPError, HTTPValidationError, OAuthError } from './openapi.ts'

/**
 * An error answer's body, as the contract writes them: `{detail}`, the 422 `{detail: [{loc, msg, type}]}`, the token
 * endpoint's RFC 6749 `{error, error_description}`, or API Gateway's own `{message}`.
 */
export type ErrorBody = HTTPError | HTTPValidationError | OAuthError | GatewayUnauthorized

/** The API answered with an error status; `body` is its JSON body, `retryAfter` its `Retry-After` in seconds. */
export class ApiError extends Error {
  override readonly name = 'ApiError'
  readonly status: number
  /** The answer's body; `undefined` when it was not JSON. */
  readonly body: ErrorBody | undefined
  /** Seconds to wait before asking again (429, 503), from `Retry-After` (seconds or an HTTP date). */
  readonly retryAfter: number | undefined
  /** The answer's headers: `WWW-Authenticate` tells an expired token from a login too old for an admin route. */
  readonly headers: Headers

  constructor(status: number, body: ErrorBody | undefined, headers: Headers = new Headers()) {
    super(describe(status, body))
    this.status = status
    this.body = body
    this.headers = headers
    this.retryAfter = secondsUntil(headers.get('retry-after'))
  }
}

function describe(status: number, body: ErrorBody | undefined): string {
  if (!body) return `HTTP ${status}`
  if ('error' in body) return body.error_description
  if ('message' in body) return body.message
  return typeof body.detail === 'string' ? body.detail : body.detail.map((issue) => issue.msg).join('; ')
}

/** `Retry-After` (RFC 9110 §10.2.3) as whole seconds from now: delay-seconds, or an HTTP date. */
function secondsUntil(value: string | null): number | undefined {
  if (value === null) return undefined
  if (/^\s*\d+\s*$/.test(value)) return Number(value)
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000))
}

/** The error an answer with an error status stands for. */
export const errorOf = async (answer: Response): Promise<ApiError> =>
  new ApiError(answer.status, await answer.json().catch(() => undefined), answer.headers)
