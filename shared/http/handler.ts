import middy, { type MiddlewareObj, type Request } from '@middy/core'
import httpHeaderNormalizer from '@middy/http-header-normalizer'
import httpJsonBodyParser from '@middy/http-json-body-parser'
import httpUrlencodeBodyParser from '@middy/http-urlencode-body-parser'
import type {
  APIGatewayEventRequestContextJWTAuthorizer,
  APIGatewayEventRequestContextV2WithAuthorizer,
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda'
import type * as v from 'valibot'
import { NotAuthenticatedError } from '#shared/domain/errors'
import type { RequestContext } from '#shared/domain/users'
import { ANSWER_MARGIN_MS, withDeadline } from '#shared/platform/deadline'
import { logger } from '#shared/platform/logger'
import { type ErrorStyle, errorResult, PayloadTooLargeError } from './errors.ts'
import type { HttpResult } from './responses.ts'
import { type AnySchema, validate } from './validation.ts'

export {
  accepted,
  created,
  type HttpResult,
  noContent,
  ok,
  TOKEN_RESPONSE_HEADERS,
} from './responses.ts'

export const MAX_BODY_BYTES = 64 * 1024

/** What a handler receives: the validated body and the parts of the request a handler may use. */
export interface ParsedEvent<TBody = undefined> {
  body: TBody
  method: string
  path: string
  headers: Readonly<Record<string, string | undefined>>
  /** The values of the route's `{name}` path segments (`functions/routes.ts`). */
  pathParameters: Readonly<Record<string, string | undefined>>
  /** API Gateway's source IP and user agent (never `X-Forwarded-For`), for rate limits and the audit trail. */
  context: RequestContext
  requestId: string
  /**
   * The claims API Gateway's JWT authorizer verified, as it passes them (each a string); only on a route marked
   * `auth: 'jwt'` in `functions/routes.ts`, undefined elsewhere.
   */
  claims?: Readonly<Record<string, string>>
}

interface HandlerOptions<TSchema extends AnySchema | undefined> {
  /** The JSON body's schema; the body is then required to be `application/json`. */
  body?: TSchema
  /** The form body's schema; the body is then required to be `application/x-www-form-urlencoded`. */
  form?: TSchema
  /** `oauth` answers client errors the RFC 6749 §5.2 way (`{"error": …}`), as the token endpoint must. */
  errors?: ErrorStyle
}

interface WithDependencies<TDeps> {
  /**
   * What the handler needs, built by the composition root (`shared/app`). Called once during the function's init
   * phase, so the first request does not wait for it, and again on each request (it is expected to cache).
   */
  dependencies: () => Promise<TDeps>
}

type Body<TSchema> = TSchema extends AnySchema ? v.InferOutput<TSchema> : undefined
type HttpEvent = APIGatewayProxyEventV2
type HttpRequest = Request<HttpEvent, APIGatewayProxyStructuredResultV2, Error, Context>
type LambdaHandler = (event: HttpEvent, context: Context) => Promise<APIGatewayProxyStructuredResultV2>

/**
 * Wraps a handler in the one middleware stack every HTTP function shares: body size limit, content type, JSON or
 * form parsing (middy's official parsers), valibot validation, and, outermost, error mapping and the access log.
 * The handler receives its dependencies from `options.dependencies`; this module does not know how they are built.
 */
export function httpHandler<TSchema extends AnySchema | undefined = undefined>(
  handler: (event: ParsedEvent<Body<TSchema>>) => Promise<HttpResult>,
  options?: HandlerOptions<TSchema>,
): LambdaHandler
export function httpHandler<TDeps, TSchema extends AnySchema | undefined = undefined>(
  handler: (event: ParsedEvent<Body<TSchema>>, deps: TDeps) => Promise<HttpResult>,
  options: HandlerOptions<TSchema> & WithDependencies<TDeps>,
): LambdaHandler
export function httpHandler<TDeps, TSchema extends AnySchema | undefined = undefined>(
  handler: (event: ParsedEvent<Body<TSchema>>, deps?: TDeps) => Promise<HttpResult>,
  options: HandlerOptions<TSchema> & Partial<WithDependencies<TDeps>> = {},
): LambdaHandler {
  const { dependencies } = options
  const schema = options.body ?? options.form
  // Start building the dependencies during the init phase; a failure is retried by the first request.
  dependencies?.().catch(() => {})

  const stack = middy<HttpEvent, APIGatewayProxyStructuredResultV2, Error, Context>()
    .use(responses(options.errors ?? 'detail'))
    .use(httpHeaderNormalizer())
    .use(bodyLimit())
  if (options.body) stack.use(httpJsonBodyParser())
  if (options.form) stack.use(httpUrlencodeBodyParser())
  if (schema) stack.use(validate(schema, options.form ? 'form' : 'body'))

  return stack.handler(async (event, context) => {
    const parsed: ParsedEvent<Body<TSchema>> = {
      body: event.body as Body<TSchema>,
      method: event.requestContext?.http?.method ?? '',
      path: event.requestContext?.http?.path ?? event.rawPath ?? '',
      headers: event.headers ?? {},
      pathParameters: event.pathParameters ?? {},
      context: {
        sourceIp: event.requestContext?.http?.sourceIp ?? '',
        userAgent: event.requestContext?.http?.userAgent ?? '',
      },
      requestId: context.awsRequestId,
      claims: jwtClaims(event),
    }
    // Leaves middy's early-timeout answer (a 503) room to be sent before Lambda ends the invocation.
    const deadline = Date.now() + context.getRemainingTimeInMillis() - ANSWER_MARGIN_MS
    return withDeadline(deadline, async () =>
      serialize(dependencies ? await handler(parsed, await dependencies()) : await handler(parsed)),
    )
  })
}

/** The bearer token of the `Authorization` header; the scheme name is case-insensitive (RFC 7235 §2.1). */
export function bearerToken(headers: ParsedEvent['headers']): string {
  const match = /^\s*(\S+)(?:\s+(.*))?$/.exec(headers.authorization ?? '')
  if (match?.[1]?.toLowerCase() !== 'bearer') throw new NotAuthenticatedError()
  return (match[2] ?? '').trim()
}

/** What API Gateway's JWT authorizer put in the request context, if it guards the route. */
function jwtClaims(event: HttpEvent): ParsedEvent['claims'] {
  type WithJwt = APIGatewayEventRequestContextV2WithAuthorizer<
    Partial<APIGatewayEventRequestContextJWTAuthorizer>
  >
  // API Gateway passes every claim as a string (a number or a list too), whatever @types/aws-lambda allows.
  return (event.requestContext as Partial<WithJwt>).authorizer?.jwt?.claims as ParsedEvent['claims']
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
