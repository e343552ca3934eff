/**
 * Invoking the functions' handlers in-process, as the bench workers do (`lambda-worker.ts`, `scale-worker.ts`): API
 * Gateway events from a new client address each (so no per-address limit is reached by the bench), a call that
 * fails loudly on an unexpected status, and the statements counted as the integration tests count them.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda'
import { findRoute } from '#functions/routes'
import { lambdaContext, toApiGatewayEvent } from '#infra/local/event'
import { builtContainers } from '#shared/app/container'

export type Handler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>

/**
 * Every `pool.query` of every function's pool built so far: each function has its own container and pool, as in
 * Lambda. `watch()` picks up pools built since the last call; `total` only grows.
 */
export function createStatementCounter() {
  const counted = new WeakSet<object>()
  const counter = {
    total: 0,
    watch() {
      for (const { database } of builtContainers()) {
        const { pool } = database
        if (counted.has(pool)) continue
        counted.add(pool)
        const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>
        ;(pool as { query: unknown }).query = (...args: unknown[]) => {
          counter.total++
          return query(...args)
        }
      }
    },
  }
  return counter
}

let sources = 0
/** A new client address for every request. */
const sourceIp = () => `10.${(sources >> 16) & 255}.${(sources >> 8) & 255}.${sources++ & 255}`

/** A request to the route that matches, as API Gateway would pass it. */
export function apiEvent(method: string, path: string, body?: string, headers: Record<string, string> = {}) {
  const route = findRoute(method, path)
  return toApiGatewayEvent(
    { method, url: path, headers: { host: 'bench.local', ...headers }, body, sourceIp: sourceIp() },
    route ? `${route.method} ${route.path}` : '$default',
  )
}

/** A JSON request. */
export const jsonEvent = (
  method: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
) => apiEvent(method, path, JSON.stringify(body), { 'content-type': 'application/json', ...headers })

/** Invokes `handler` with a Lambda context; throws unless it answers `expected`. The parsed body. */
export async function callHandler(
  handler: Handler,
  request: APIGatewayProxyEventV2,
  expected: number,
  counter: ReturnType<typeof createStatementCounter>,
): Promise<Record<string, unknown>> {
  counter.watch()
  const response = await handler(request, lambdaContext('bench'))
  if (response.statusCode !== expected) {
    throw new Error(
      `${request.routeKey} answered ${response.statusCode}, expected ${expected}: ${response.body}`,
    )
  }
  return response.body ? (JSON.parse(response.body) as Record<string, unknown>) : {}
}
