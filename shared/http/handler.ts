import middy, { type MiddlewareObj, type Request } from '@middy/core'
import httpHeaderNormalizer from '@middy/http-header-normalizer'
import httpJsonBodyParser from '@middy/http-json-body-parser'
import httpUrlencodeBodyParser from '@middy/http-urlencode-body-parser'
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda'
import * as v from 'valibot'
import { type Container, getContainer } from '#shared/app/container'
import {
  DatabaseUnavailableError,
  DomainError,
  EmailTakenError,
  InvalidCredentialsError,
  InvalidRequestError,
  InvalidTokenError,
  NotAuthenticatedError,
  RateLimitError,
  UnsupportedGrantTypeError,
  UsernameTakenError,
  ValidationError,
  type ValidationIssue,
} from '#shared/domain/errors'
import type { RequestContext } from '#shared/domain/users'
import { logger } from '#shared/platform/logger'

export const MAX_BODY_BYTES = 64 * 1024
const RETRY_AFTER_UNAVAILABLE_SECONDS = 5

/** What a handler returns: a status, a JSON body (or none) and any headers of its own. */
export interface HttpResult {
  statusCode: number
  body?: unknown
  headers?: Record<string, string>
  /** A body sent as is instead of as JSON (the docs page and its assets); `headers` then sets its content type. */
  raw?: { body: string; isBase64Encoded: boolean }
}

/** What a handler receives: the validated body and the parts of the request a handler may use. */
export interface ParsedEvent<TBody = undefined> {
  body: TBody
  method: string
  path: string
  headers: Readonly<Record<string, string | undefined>>
  /** API Gateway's source IP and user agent (never `X-Forwarded-For`), for rate limits and the audit trail. */
  context: RequestContext
  requestId: string
}

export const ok = (body: unknown, headers?: Record<string, string>): HttpResult => ({
  statusCode: 200,
  body,
  headers,
})
export const created = (body: unknown): HttpResult => ({ statusCode: 201, body })
export const noContent = (): HttpResult => ({ statusCode: 204 })

/** Headers of every response that carries tokens (RFC 6749 §5.1). */
export const TOKEN_RESPONSE_HEADERS = { 'cache-control': 'no-store', pragma: 'no-cache' } as const

type ErrorStyle = 'detail' | 'oauth'
type AnySchema = v.GenericSchema<unknown, unknown>

interface HandlerOptions<TSchema extends AnySchema | undefined> {
  /** The JSON body's schema; the body is then required to be `application/json`. */
  body?: TSchema
  /** The form body's schema; the body is then required to be `application/x-www-form-urlencoded`. */
  form?: TSchema
  /** `oauth` answers client errors the RFC 6749 §5.2 way (`{"error": …}`), as the token endpoint must. */
  errors?: ErrorStyle
  /** False for a function that needs no database or secrets (the 404 fallback). */
  container?: boolean
}

type Body<TSchema> = TSchema extends AnySchema ? v.InferOutput<TSchema> : undefined
type HttpEvent = APIGatewayProxyEventV2
type HttpRequest = Request<HttpEvent, APIGatewayProxyStructuredResultV2, Error, Context>

/**
 * Wraps a handler in the one middleware stack every HTTP function shares: body size limit, content type, JSON or
 * form parsing (middy's official parsers), valibot validation, the container, and, last, error mapping.
 */
export function httpHandler<TSchema extends AnySchema | undefined = undefined>(
  handler: (event: ParsedEvent<Body<TSchema>>, deps: Container) => Promise<HttpResult>,
  options: HandlerOptions<TSchema> = {},
) {
  const style = options.errors ?? 'detail'
  const schema = options.body ?? options.form
  const needsContainer = options.container !== false
  // Start building the container during the function's init phase, so the first request does not wait for it.
  if (needsContainer) getContainer().catch(() => {})

  const stack = middy<HttpEvent, APIGatewayProxyStructuredResultV2, Error, Context>()
    .use(responses(style))
    .use(httpHeaderNormalizer())
    .use(bodyLimit())
  if (options.body) stack.use(httpJsonBodyParser())
  if (options.form) stack.use(httpUrlencodeBodyParser())
  if (schema) stack.use(validate(schema, options.form ? 'form' : 'body'))

  return stack.handler(async (event, context) => {
    const deps = needsContainer ? await getContainer() : (undefined as unknown as Container)
    const result = await handler(
      {
        body: event.body as Body<TSchema>,
        method: event.requestContext?.http?.method ?? '',
        path: event.requestContext?.http?.path ?? event.rawPath ?? '',
        headers: event.headers ?? {},
        context: {
          sourceIp: event.requestContext?.http?.sourceIp ?? '',
          userAgent: event.requestContext?.http?.userAgent ?? '',
        },
        requestId: context.awsRequestId,
      },
      deps,
    )
    return serialize(result)
  })
}

/** The bearer token of the `Authorization` header; the scheme name is case-insensitive (RFC 7235 §2.1). */
export function bearerToken(headers: ParsedEvent['headers']): string {
  const match = /^\s*(\S+)(?:\s+(.*))?$/.exec(headers.authorization ?? '')
  if (match?.[1]?.toLowerCase() !== 'bearer') throw new NotAuthenticatedError()
  return (match[2] ?? '').trim()
}

class PayloadTooLargeError extends Error {
  override readonly name = 'PayloadTooLargeError'
}

function bodyLimit(): MiddlewareObj<HttpEvent> {
  return {
    before: ({ event }) => {
      if (typeof event.body !== 'string') return
      // Counted without decoding: a base64 length gives the decoded size arithmetically.
      const bytes = Buffer.byteLength(event.body, event.isBase64Encoded ? 'base64' : 'utf8')
      if (bytes > MAX_BODY_BYTES) throw new PayloadTooLargeError()
    },
  }
}

function validate(schema: AnySchema, where: 'body' | 'form'): MiddlewareObj<HttpEvent> {
  return {
    before: ({ event }) => {
      const input: unknown = event.body
      if (where === 'body' && (typeof input !== 'object' || input === null || Array.isArray(input))) {
        throw new ValidationError([
          { loc: ['body'], msg: 'Input should be a valid dictionary', type: 'dict_type' },
        ])
      }
      const result = v.safeParse(schema, input, { abortEarly: false, abortPipeEarly: true })
      if (!result.success) throw new ValidationError(toValidationIssues(result.issues))
      ;(event as { body: unknown }).body = result.output
    },
  }
}

/** Valibot issues in FastAPI's shape, one entry per field: `{loc: ["body", "email"], msg, type}`. */
function toValidationIssues(issues: readonly v.BaseIssue<unknown>[]): ValidationIssue[] {
  const seen = new Set<string>()
  const result: ValidationIssue[] = []
  for (const issue of issues) {
    const path = (issue.path ?? []).map((item) => item.key as string | number)
    const key = JSON.stringify(path)
    if (seen.has(key)) continue
    seen.add(key)
    const missing = issue.input === undefined && issue.kind === 'schema'
    result.push({
      loc: ['body', ...path],
      msg: missing ? 'Field required' : issue.message.replace(/^Invalid \w+: /, ''),
      type: missing ? 'missing' : issueType(issue),
    })
  }
  return result
}

const issueType = (issue: v.BaseIssue<unknown>): string => {
  if (issue.kind === 'schema') return `${issue.type}_type`
  if (issue.type === 'email' || issue.type === 'regex' || issue.type === 'check') return 'value_error'
  return issue.type
}

const BASE_HEADERS = {
  'content-type': 'application/json',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
} as const

function serialize(result: HttpResult): APIGatewayProxyStructuredResultV2 {
  if (result.raw)
    return { statusCode: result.statusCode, headers: { ...BASE_HEADERS, ...result.headers }, ...result.raw }
  return {
    statusCode: result.statusCode,
    headers: { ...BASE_HEADERS, ...result.headers },
    body: result.body === undefined ? '' : JSON.stringify(result.body),
    isBase64Encoded: false,
  }
}

/** The one place an error becomes a response. Anything unknown is a bare 500, logged once without its details. */
export function errorResult(error: unknown, style: ErrorStyle = 'detail', requestId = ''): HttpResult {
  const oauth = (code: string, description: string, statusCode = 400): HttpResult => ({
    statusCode,
    body: { error: code, error_description: description },
    headers: TOKEN_RESPONSE_HEADERS,
  })
  const detail = (statusCode: number, message: unknown, headers?: Record<string, string>): HttpResult => ({
    statusCode,
    body: { detail: message },
    headers,
  })

  if (error instanceof PayloadTooLargeError) return detail(413, 'Request body too large')
  // middy's timeoutEarly: the function is about to hit its Lambda timeout; answer before the runtime kills it.
  if (error instanceof Error && error.name === 'TimeoutError') {
    logger.warn('request timed out', { requestId })
    return detail(503, 'Service temporarily unavailable', {
      'retry-after': String(RETRY_AFTER_UNAVAILABLE_SECONDS),
    })
  }
  if (isHttpError(error, 415)) return detail(415, 'Unsupported Media Type')
  if (isHttpError(error, 422)) {
    if (style === 'oauth') return oauth('invalid_request', 'The request body could not be parsed')
    return detail(422, [{ loc: ['body'], msg: 'JSON decode error', type: 'json_invalid' }])
  }
  if (error instanceof DomainError) {
    if (style === 'oauth') {
      if (error instanceof ValidationError) {
        const issue = error.issues[0]
        return oauth(
          'invalid_request',
          issue ? `${issue.loc.slice(1).join('.') || 'body'}: ${issue.msg}` : error.message,
        )
      }
      if (error instanceof InvalidRequestError) return oauth('invalid_request', error.message)
      if (error instanceof UnsupportedGrantTypeError) return oauth('unsupported_grant_type', error.message)
      if (error instanceof InvalidCredentialsError) return oauth('invalid_grant', error.message)
      if (error instanceof InvalidTokenError)
        return oauth('invalid_grant', 'The refresh token is invalid, expired or revoked')
    }
    if (error instanceof ValidationError) return detail(422, error.issues)
    if (error instanceof EmailTakenError || error instanceof UsernameTakenError)
      return detail(400, error.message)
    if (error instanceof InvalidCredentialsError || error instanceof NotAuthenticatedError) {
      return detail(401, error.message, { 'www-authenticate': 'Bearer' })
    }
    if (error instanceof InvalidTokenError) {
      return detail(401, error.message, { 'www-authenticate': 'Bearer error="invalid_token"' })
    }
    if (error instanceof RateLimitError) {
      return detail(429, error.message, { 'retry-after': String(error.retryAfterSeconds) })
    }
    if (error instanceof DatabaseUnavailableError) {
      logger.warn('database unavailable', { requestId, error: error.name })
      return detail(503, error.message, { 'retry-after': String(RETRY_AFTER_UNAVAILABLE_SECONDS) })
    }
  }
  // Only the class name: messages and causes can hold SQL, parameters or secrets.
  logger.error('unhandled error', { requestId, error: error instanceof Error ? error.name : typeof error })
  return detail(500, 'Internal Server Error')
}

const isHttpError = (error: unknown, statusCode: number) =>
  error instanceof Error && (error as { statusCode?: unknown }).statusCode === statusCode

/** Outermost middleware: times the request, maps errors, and writes one access log line. */
function responses(
  style: ErrorStyle,
): MiddlewareObj<HttpEvent, APIGatewayProxyStructuredResultV2, Error, Context> {
  const started = new WeakMap<object, number>()
  const accessLog = (request: HttpRequest) => {
    const start = started.get(request) ?? performance.now()
    logger.info('request', {
      requestId: request.context.awsRequestId,
      route: request.event.routeKey,
      status: request.response?.statusCode,
      durationMs: Math.round((performance.now() - start) * 10) / 10,
    })
  }
  return {
    before: (request) => {
      started.set(request, performance.now())
    },
    after: (request) => accessLog(request),
    onError: (request) => {
      request.response = serialize(errorResult(request.error, style, request.context.awsRequestId))
      accessLog(request)
    },
  }
}
