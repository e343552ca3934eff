import { DomainError, type DomainErrorCode, type ValidationError } from '#shared/domain/errors'
import { logger } from '#shared/platform/logger'
import { type HttpResult, TOKEN_RESPONSE_HEADERS } from './responses.ts'

/** How an endpoint answers client errors: FastAPI's `{"detail": …}`, or RFC 6749 §5.2 on the token endpoint. */
export type ErrorStyle = 'detail' | 'oauth'

/** Failures of the HTTP layer itself, before any domain code runs. */
export type HttpFailureCode = 'PAYLOAD_TOO_LARGE' | 'UNSUPPORTED_MEDIA_TYPE' | 'MALFORMED_BODY' | 'TIMEOUT'

export type ErrorCode = DomainErrorCode | HttpFailureCode

export const RETRY_AFTER_UNAVAILABLE_SECONDS = 5

/** A body larger than the limit, refused before it is parsed. */
export class PayloadTooLargeError extends Error {
  override readonly name = 'PayloadTooLargeError'
  readonly code = 'PAYLOAD_TOO_LARGE'
}

/** A body of another media type than the route takes; the answer names the one to send. */
export class UnsupportedMediaTypeError extends Error {
  override readonly name = 'UnsupportedMediaTypeError'
  readonly code = 'UNSUPPORTED_MEDIA_TYPE'
  readonly expected: string
  constructor(expected: string) {
    super(`Unsupported Media Type: send ${expected}`)
    this.expected = expected
  }
}

interface ErrorRule {
  status: number
  /** The `detail` of the body; the error's message by default. */
  detail?: (error: Error) => unknown
  headers?: (error: Error) => Record<string, string>
  /** The RFC 6749 §5.2 error on the token endpoint (status 400); without it the token endpoint answers as any other. */
  oauth?: { error: string; description?: (error: Error) => string }
  /** An operational condition worth a warning in the logs (never the error's message or cause). */
  warn?: string
}

const bearer = (challenge: string) => () => ({ 'www-authenticate': challenge })
const retryAfter = (error: Error) => ({
  'retry-after': String((error as { retryAfterSeconds?: number }).retryAfterSeconds),
})
const unavailable = () => ({ 'retry-after': String(RETRY_AFTER_UNAVAILABLE_SECONDS) })
const issues = (error: Error) => (error as ValidationError).issues

/** Every known error, by code: its status, body and headers. A new error code without a row fails the type check. */
export const ERROR_TABLE: Readonly<Record<ErrorCode, ErrorRule>> = {
  EMAIL_TAKEN: { status: 400 },
  USERNAME_TAKEN: { status: 400 },
  INVALID_CREDENTIALS: {
    status: 401,
    headers: bearer('Bearer'),
    oauth: { error: 'invalid_grant' },
  },
  NOT_AUTHENTICATED: { status: 401, headers: bearer('Bearer') },
  INVALID_TOKEN: {
    status: 401,
    headers: bearer('Bearer error="invalid_token"'),
    oauth: { error: 'invalid_grant', description: () => 'The refresh token is invalid, expired or revoked' },
  },
  INSUFFICIENT_PRIVILEGES: { status: 403 },
  // RFC 9470 §3: the token is valid, but its authentication too old for the route; `max_age` says what it accepts.
  STALE_AUTHENTICATION: {
    status: 401,
    headers: (error) => ({
      'www-authenticate': `Bearer error="insufficient_user_authentication", error_description="A more recent login is required", max_age="${(error as { maxAgeSeconds?: number }).maxAgeSeconds}"`,
    }),
  },
  TOO_MANY_ATTEMPTS: { status: 429, headers: retryAfter },
  REGISTRATION_LIMIT: { status: 429, headers: retryAfter },
  DATABASE_UNAVAILABLE: { status: 503, headers: unavailable, warn: 'database unavailable' },
  SIGNING_KEYS_UNAVAILABLE: { status: 503, headers: unavailable, warn: 'signing keys not created yet' },
  VALIDATION_FAILED: {
    status: 422,
    detail: issues,
    oauth: {
      error: 'invalid_request',
      description: (error) => {
        const [issue] = issues(error)
        return issue ? `${issue.loc.slice(1).join('.') || 'body'}: ${issue.msg}` : error.message
      },
    },
  },
  INVALID_REQUEST: { status: 400, oauth: { error: 'invalid_request' } },
  UNSUPPORTED_GRANT_TYPE: { status: 400, oauth: { error: 'unsupported_grant_type' } },
  // Raised by seed-admin only, which is no HTTP function; here for completeness of the table.
  CONFLICTING_ADMIN: { status: 409 },
  INCORRECT_PASSWORD: { status: 400 },
  SESSION_NOT_FOUND: { status: 404 },
  USER_NOT_FOUND: { status: 404 },
  LAST_SUPERUSER: { status: 409 },
  USER_INACTIVE: { status: 409 },
  PASSWORD_RESET_LIMIT: { status: 429, headers: retryAfter },
  INVALID_RESET_TOKEN: { status: 400 },
  ACCOUNT_DELETION_LIMIT: { status: 429, headers: retryAfter },
  INVALID_DELETION_TOKEN: { status: 400 },
  EMAIL_CODE_LIMIT: { status: 429, headers: retryAfter },
  INVALID_EMAIL_CODE: { status: 400 },
  EMAIL_NOT_VERIFIED: {
    status: 403,
    oauth: { error: 'invalid_grant', description: () => 'Email not verified' },
  },
  MAIL_NOT_CONFIGURED: { status: 503, warn: 'mail requested, but no mail is configured' },
  MAIL_QUEUE_UNAVAILABLE: { status: 503, headers: unavailable, warn: 'mail queue unavailable' },
  PAYLOAD_TOO_LARGE: { status: 413, detail: () => 'Request body too large' },
  // The message names the type to send (UnsupportedMediaTypeError); a parser's own 415 says only what went wrong.
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    detail: (error) =>
      error instanceof UnsupportedMediaTypeError ? error.message : 'Unsupported Media Type',
  },
  MALFORMED_BODY: {
    status: 422,
    detail: () => [{ loc: ['body'], msg: 'JSON decode error', type: 'json_invalid' }],
    oauth: { error: 'invalid_request', description: () => 'The request body could not be parsed' },
  },
  // middy's timeoutEarly: the function is about to hit its Lambda timeout; answer before the runtime kills it.
  TIMEOUT: {
    status: 503,
    detail: () => 'Service temporarily unavailable',
    headers: unavailable,
    warn: 'request timed out',
  },
}

const hasCode = (error: Error): error is DomainError | PayloadTooLargeError | UnsupportedMediaTypeError =>
  error instanceof DomainError ||
  error instanceof PayloadTooLargeError ||
  error instanceof UnsupportedMediaTypeError

/** The table's code for an error: its own, or what middy's parsers and timeout mean by theirs. */
export function codeOf(error: unknown): ErrorCode | undefined {
  if (!(error instanceof Error)) return undefined
  if (hasCode(error)) return error.code
  if (error.name === 'TimeoutError') return 'TIMEOUT'
  const statusCode = (error as { statusCode?: unknown }).statusCode
  if (statusCode === 415) return 'UNSUPPORTED_MEDIA_TYPE'
  if (statusCode === 422) return 'MALFORMED_BODY'
  return undefined
}

/** The one place an error becomes a response. Anything unknown is a bare 500, logged once without its details. */
export function errorResult(error: unknown, style: ErrorStyle = 'detail', requestId = ''): HttpResult {
  const code = codeOf(error)
  if (code === undefined || !(error instanceof Error)) {
    // Only the class name: messages and causes can hold SQL, parameters or secrets.
    logger.error('unhandled error', { requestId, error: error instanceof Error ? error.name : typeof error })
    return { statusCode: 500, body: { detail: 'Internal Server Error' } }
  }
  const rule = ERROR_TABLE[code]
  if (rule.warn) logger.warn(rule.warn, { requestId, error: error.name })
  if (style === 'oauth' && rule.oauth) {
    return {
      statusCode: 400,
      body: { error: rule.oauth.error, error_description: rule.oauth.description?.(error) ?? error.message },
      headers: TOKEN_RESPONSE_HEADERS,
    }
  }
  return {
    statusCode: rule.status,
    body: { detail: rule.detail ? rule.detail(error) : error.message },
    headers: rule.headers?.(error),
  }
}
