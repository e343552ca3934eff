import { createServer, type IncomingMessage, type Server } from 'node:http'
import type {
  APIGatewayEventRequestContextV2WithAuthorizer,
  APIGatewayProxyEventV2,
  APIGatewayProxyResultV2,
  Context,
} from 'aws-lambda'
import { fallbackRoute, findRoute } from '#functions/routes'
import { parsePublishedKeys } from '#shared/domain/signing-keys'
import { parseCorsOrigins, withCors } from '#shared/http/cors'
import { JWKS_PATH } from '#shared/http/discovery'
import { loadSettings } from '#shared/platform/config'
import { authorizeJwt, type JwtAuthorizerContext, type JwtAuthorizerSettings } from './authorizer.ts'
import { fromApiGatewayResult, lambdaContext, toApiGatewayEvent } from './event.ts'

type LambdaHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyResultV2>

/** API Gateway's own payload limit: a larger request never reaches a function. */
const API_GATEWAY_MAX_PAYLOAD_BYTES = 10 * 1024 * 1024

const handlers = new Map<string, Promise<LambdaHandler>>()

/** The handler of `functions/<name>.ts`, imported once, as a Lambda container would. */
export function loadHandler(name: string): Promise<LambdaHandler> {
  let handler = handlers.get(name)
  if (!handler) {
    handler = import(`../../functions/${name}.ts`).then(
      (module: { handler: LambdaHandler }) => module.handler,
    )
    handlers.set(name, handler)
  }
  return handler
}

async function readBody(request: IncomingMessage): Promise<Buffer | 'too large'> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of request) {
    size += (chunk as Buffer).length
    if (size > API_GATEWAY_MAX_PAYLOAD_BYTES) return 'too large'
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}

/**
 * The keys the service publishes, read from its own JWKS route (its `jwks_uri`) as the gateway reads them: on every
 * protected request (the gateway caches them up to two hours), so a rotation shows at once.
 */
async function publishedKeys(): ReturnType<JwtAuthorizerSettings['keys']> {
  const route = findRoute('GET', JWKS_PATH)
  if (!route) return []
  const handler = await loadHandler(route.function)
  const event = toApiGatewayEvent({ method: 'GET', url: JWKS_PATH, headers: {} }, `GET ${JWKS_PATH}`)
  const result = fromApiGatewayResult(await handler(event, lambdaContext(route.function)))
  return result.statusCode === 200 ? (parsePublishedKeys(result.body.toString('utf8')) ?? []) : []
}

/** The authorizer the stack gives API Gateway: the functions' own issuer and audience, and the published keys. */
function defaultAuthorizer(): JwtAuthorizerSettings {
  const { JWT_ISSUER, JWT_AUDIENCE } = loadSettings()
  return { issuer: JWT_ISSUER, audience: JWT_AUDIENCE, keys: publishedKeys }
}

export interface LocalServerOptions {
  /** Origins allowed by CORS, as API Gateway's `allowOrigins`; by default from `CORS_ORIGINS` (none if unset). */
  corsOrigins?: readonly string[]
  /**
   * API Gateway's JWT authorizer, for the routes declared `callers: 'token'`; by default the functions' settings
   * (`JWT_ISSUER`, `JWT_AUDIENCE`, read at the first protected request) and the keys the service publishes.
   */
  authorizer?: JwtAuthorizerSettings
}

/**
 * An HTTP server that behaves like the deployed API Gateway: each request becomes a payload-2.0 event for the
 * function `functions/routes.ts` names, or the `$default` fallback for anything no route matches (an `OPTIONS`
 * preflight included, as in AWS), invoked with a Lambda context; a route declared `callers: 'token'` is reached only
 * through the JWT authorizer (`./authorizer.ts`); API Gateway's CORS is applied to whatever answers.
 */
export function createLocalServer(options: LocalServerOptions = {}): Server {
  const corsOrigins = options.corsOrigins ?? parseCorsOrigins(process.env.CORS_ORIGINS)
  let authorizer = options.authorizer
  return createServer(async (request, response) => {
    const method = request.method ?? 'GET'
    const cors = {
      method,
      origin: request.headers.origin,
      requestMethod: request.headers['access-control-request-method'] as string | undefined,
    }
    const respond = (status: number, headers: Record<string, string>, body: Buffer | string) =>
      response.writeHead(status, withCors(corsOrigins, cors, headers)).end(body)

    const body = await readBody(request)
    if (body === 'too large') {
      respond(413, { 'content-type': 'application/json' }, '{"message":"Request Entity Too Large"}')
      request.resume()
      return
    }
    const path = new URL(request.url ?? '/', 'http://localhost').pathname
    const route = findRoute(method, path)
    const name = route?.function ?? fallbackRoute.function
    const routeKey = route ? `${route.method} ${route.path}` : '$default'
    try {
      const handler = await loadHandler(name)
      let event = toApiGatewayEvent(
        {
          method,
          url: request.url ?? '/',
          headers: request.headers,
          body,
          sourceIp: (request.socket.remoteAddress ?? '').replace(/^::ffff:/, ''),
        },
        routeKey,
      )
      if (route?.callers === 'token') {
        authorizer ??= defaultAuthorizer()
        const verdict = await authorizeJwt(event.headers.authorization, authorizer)
        if (!verdict.allowed) {
          respond(verdict.statusCode, verdict.headers, verdict.body)
          return
        }
        const requestContext: APIGatewayEventRequestContextV2WithAuthorizer<JwtAuthorizerContext> = {
          ...event.requestContext,
          authorizer: verdict.authorizer,
        }
        event = { ...event, requestContext }
      }
      const result = fromApiGatewayResult(await handler(event, lambdaContext(name)))
      respond(result.statusCode, result.headers, result.body)
    } catch {
      // What API Gateway answers when a function fails outright.
      respond(500, { 'content-type': 'application/json' }, '{"message":"Internal Server Error"}')
    }
  })
}
