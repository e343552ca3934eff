import middy, { type MiddlewareObj, type Request } from '@middy/core'
import httpHeaderNormalizer from '@middy/http-header-normalizer'
import httpJsonBodyParser from '@middy/http-json-body-parser'
import httpUrlencodeBodyParser from '@middy/http-urlencode-body-parser'
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda'
import type * as v from 'valibot'
import type { RequestContext } from '#shared/domain/users'
import { ANSWER_MARGIN_MS, withDeadline } from '#shared/platform/deadline'
import { duringInit } from '#shared/platform/init'
import { logger } from '#shared/platform/logger'
import { type Authenticator, authenticate, type Callers, type PrincipalOf } from './authentication.ts'
import { varyOnOrigin } from './cors.ts'
import {
  codeOf,
  type ErrorStyle,
  errorResult,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
} from './errors.ts'
import { answerMetrics, type CountedAs } from './metrics.ts'
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
/** The media types of the bodies the functions take: JSON, and the token endpoint's form. */
export const JSON_MEDIA_TYPE = 'application/json'
export const FORM_MEDIA_TYPE = 'application/x-www-form-urlencoded'

/** What a handler receives: the validated body, the caller, and the parts of the request a handler may use. */
export interface ParsedEvent<TBody = undefined, TPrincipal = undefined> {
  body: TBody
  method: string
  path: string
  headers: Readonly<Record<string, string | undefined>>
  /** The values of the route's `{name}` path segments (`functions/routes.ts`); check them with `parseInput`. */
  pathParameters: Readonly<Record<string, string | undefined>>
  /** The query string's parameters (a repeated one joined by commas, as API Gateway passes it); check them with `parseInput`. */
  queryStringParameters: Readonly<Record<string, string | undefined>>
  /** API Gateway's source IP and user agent (never `X-Forwarded-For`), for rate limits and the audit trail. */
  context: RequestContext
  requestId: string
  /** Who is calling, authenticated before the handler runs as the route's `callers` declare (`functions/routes.ts`). */
  principal: TPrincipal
}

interface HandlerOptions<TSchema extends AnySchema | undefined, C extends Callers> {
  /** Who may call the function, as its routes declare it (`callersOf` in `functions/routes.ts`). */
  callers: C
  /** The JSON body's schema; the body is then required to be `application/json`. */
  body?: TSchema
  /** The form body's schema; the body is then required to be `application/x-www-form-urlencoded`. */
  form?: TSchema
  /** `oauth` answers client errors the RFC 6749 §5.2 way (`{"error": …}`), as the token endpoint must. */
  errors?: ErrorStyle
  /**
   * What the function's answers count as in the service's metrics (`shared/http/metrics.ts`), carried by their access
   * log; by the body when it depends on the request (the token endpoint's grant). The function is given the parsed
   * body of every answer, a refused one's too, which its schema may not have validated: it reads it defensively.
   */
  counts?: CountedAs | ((body: Body<TSchema>) => CountedAs | undefined)
}

interface WithDependencies<TDeps> {
  /**
   * What the handler needs, built by the composition root (`shared/app`). Called once during the function's init
   * phase, so the first request does not wait for it, and again on each request (it is expected to cache).
   */
  dependencies: () => Promise<TDeps>
}

type Body<TSchema> = TSchema extends AnySchema ? v.InferOutput<TSchema> : undefined
/** A session's or a superuser's route authenticates through its dependencies, so they must be able to. */
type AuthenticatesFor<C extends Callers> = C extends 'session' | 'superuser'
  ? { dependencies: () => Promise<Authenticator> }
  : unknown
type HttpEvent = APIGatewayProxyEventV2
type HttpRequest = Request<HttpEvent, APIGatewayProxyStructuredResultV2, Error, Context>
type LambdaHandler = (event: HttpEvent, context: Context) => Promise<APIGatewayProxyStructuredResultV2>

/**
 * Wraps a handler in the one middleware stack every HTTP function shares: body size limit, authentication of the
 * route's callers, content type, JSON or form parsing (middy's official parsers), valibot validation, and,
 * outermost, error mapping and the access log. The handler receives the caller as `principal` and its dependencies
 * from `options.dependencies`; this module does not know how they are built.
 */
export function httpHandler<C extends 'anyone' | 'token', TSchema extends AnySchema | undefined = undefined>(
  handler: (event: ParsedEvent<Body<TSchema>, PrincipalOf<C>>) => Promise<HttpResult>,
  options: HandlerOptions<TSchema, C>,
): LambdaHandler
export function httpHandler<TDeps, C extends Callers, TSchema extends AnySchema | undefined = undefined>(
  handler: (event: ParsedEvent<Body<TSchema>, PrincipalOf<C>>, deps: TDeps) => Promise<HttpResult>,
  options: HandlerOptions<TSchema, C> & WithDependencies<TDeps> & AuthenticatesFor<C>,
): LambdaHandler
export function httpHandler<TDeps, C extends Callers, TSchema extends AnySchema | undefined = undefined>(
  handler: (event: ParsedEvent<Body<TSchema>, PrincipalOf<C>>, deps?: TDeps) => Promise<HttpResult>,
  options: HandlerOptions<TSchema, C> & Partial<WithDependencies<TDeps>>,
): LambdaHandler {
  const { dependencies, callers } = options
  const schema = options.body ?? options.form
  // Start building the dependencies during the init phase; a failure is retried by the first request. A provisioned
  // environment's init waits for the build (shared/platform/init.ts).
  if (dependencies) duringInit(dependencies())
  const principals = new WeakMap<HttpEvent, PrincipalOf<C>>()

  const stack = middy<HttpEvent, APIGatewayProxyStructuredResultV2, Error, Context>()
    // Widened to any parsed body: the access log sees refused requests too (see `counts`).
    .use(responses(options.errors ?? 'detail', options.counts as Counts | undefined))
    .use(httpHeaderNormalizer())
    .use(bodyLimit())
    .use({
      // Before the body is parsed, within the invocation's deadline as every statement is.
      before: async ({ event, context }) => {
        const authenticator = async () => ((await dependencies?.()) ?? {}) as Partial<Authenticator>
        const principal = await withDeadline(deadlineOf(context), () =>
          authenticate(callers, event, authenticator),
        )
        principals.set(event, principal as PrincipalOf<C>)
      },
    })
  if (options.body) stack.use(expects(JSON_MEDIA_TYPE)).use(httpJsonBodyParser())
  if (options.form) stack.use(expects(FORM_MEDIA_TYPE)).use(httpUrlencodeBodyParser())
  if (schema) stack.use(validate(schema, options.form ? 'form' : 'body'))

  return stack.handler(async (event, context) => {
    const parsed: ParsedEvent<Body<TSchema>, PrincipalOf<C>> = {
      body: event.body as Body<TSchema>,
      method: event.requestContext?.http?.method ?? '',
      path: event.requestContext?.http?.path ?? event.rawPath ?? '',
      headers: event.headers ?? {},
      pathParameters: event.pathParameters ?? {},
      queryStringParameters: event.queryStringParameters ?? {},
      context: {
        sourceIp: event.requestContext?.http?.sourceIp ?? '',
        userAgent: event.requestContext?.http?.userAgent ?? '',
      },
      requestId: context.awsRequestId,
      principal: principals.get(event) as PrincipalOf<C>,
    }
    return withDeadline(deadlineOf(context), async () =>
      serialize(dependencies ? await handler(parsed, await dependencies()) : await handler(parsed)),
    )
  })
}

/** Leaves middy's early-timeout answer (a 503) room to be sent before Lambda ends the invocation. */
const deadlineOf = (context: Context) => Date.now() + context.getRemainingTimeInMillis() - ANSWER_MARGIN_MS

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

/**
 * Names the media type the route takes in the 415 its parser throws for any other (the parser's own error says only
 * "Unsupported Media Type"), so a client learns what to send. Its `onError` runs before the outer error mapping.
 */
function expects(mediaType: string): MiddlewareObj<HttpEvent> {
  return {
    onError: (request) => {
      if ((request.error as { statusCode?: unknown } | undefined)?.statusCode === 415)
        request.error = new UnsupportedMediaTypeError(mediaType)
    },
  }
}

const BASE_HEADERS = {
  'content-type': 'application/json',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
} as const

// An answer without content (a 204) has nothing to describe: no Content-Type (RFC 9110 §8.3).
const { 'content-type': _json, ...NO_CONTENT_HEADERS } = BASE_HEADERS

function serialize(result: HttpResult): APIGatewayProxyStructuredResultV2 {
  const base = result.body === undefined && !result.raw ? NO_CONTENT_HEADERS : BASE_HEADERS
  const merged: Record<string, string> = { ...base, ...result.headers }
  // Every answer, whatever the origin or none: API Gateway's CORS headers depend on it (`shared/http/cors.ts`).
  const headers = { ...merged, vary: varyOnOrigin(merged.vary) }
  if (result.raw) return { statusCode: result.statusCode, headers, ...result.raw }
  return {
    statusCode: result.statusCode,
    headers,
    body: result.body === undefined ? '' : JSON.stringify(result.body),
    isBase64Encoded: false,
  }
}

type Counts = CountedAs | ((body: unknown) => CountedAs | undefined)

/** What an answer counts as; a body that was never parsed (refused before) is none of the function's answers. */
function countedAs(counts: Counts | undefined, body: unknown): CountedAs | undefined {
  if (typeof counts !== 'function') return counts
  return typeof body === 'object' && body !== null ? counts(body) : undefined
}

/**
 * Outermost middleware: times the request, maps errors, and writes one access log line, which carries the answer's
 * count when the function's answers count (`counts`).
 */
function responses(
  style: ErrorStyle,
  counts: Counts | undefined,
): MiddlewareObj<HttpEvent, APIGatewayProxyStructuredResultV2, Error, Context> {
  const started = new WeakMap<object, number>()
  const accessLog = (request: HttpRequest) => {
    const start = started.get(request) ?? performance.now()
    const status = request.response?.statusCode
    const counted = countedAs(counts, request.event.body)
    const code = request.error ? codeOf(request.error) : undefined
    const metrics =
      counted && status !== undefined
        ? answerMetrics(counted, { status, code }, request.context.functionName, Date.now())
        : undefined
    logger.info(
      'request',
      {
        requestId: request.context.awsRequestId,
        route: request.event.routeKey,
        status,
        durationMs: Math.round((performance.now() - start) * 10) / 10,
      },
      metrics,
    )
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
