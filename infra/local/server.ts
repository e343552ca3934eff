import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda'
import { fallbackRoute, findRoute } from '#functions/routes'
import { parseCorsOrigins, withCors } from '#shared/http/cors'
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

export interface LocalServerOptions {
  /** Origins allowed by CORS, as API Gateway's `allowOrigins`; by default from `CORS_ORIGINS` (none if unset). */
  corsOrigins?: readonly string[]
}

/**
 * An HTTP server that behaves like the deployed API Gateway: each request becomes a payload-2.0 event for the
 * function `functions/routes.ts` names, or the `$default` fallback for anything no route matches (an `OPTIONS`
 * preflight included, as in AWS), invoked with a Lambda context; API Gateway's CORS is applied to whatever answers.
 */
export function createLocalServer(options: LocalServerOptions = {}): Server {
  const corsOrigins = options.corsOrigins ?? parseCorsOrigins(process.env.CORS_ORIGINS)
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
      const event = toApiGatewayEvent(
        {
          method,
          url: request.url ?? '/',
          headers: request.headers,
          body,
          sourceIp: (request.socket.remoteAddress ?? '').replace(/^::ffff:/, ''),
        },
        routeKey,
      )
      const result = fromApiGatewayResult(await handler(event, lambdaContext(name)))
      respond(result.statusCode, result.headers, result.body)
    } catch {
      // What API Gateway answers when a function fails outright.
      respond(500, { 'content-type': 'application/json' }, '{"message":"Internal Server Error"}')
    }
  })
}
