import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda'
import { findRoute } from '#functions/routes'
import { fromApiGatewayResult, lambdaContext, toApiGatewayEvent } from '#infra/local/event'

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyResultV2>

export interface TestResponse {
  status: number
  headers: Record<string, string>
  /** The parsed JSON body; `undefined` for an empty body. */
  body: unknown
  raw: string
}

interface RequestOptions {
  headers?: Record<string, string>
  sourceIp?: string
}

/**
 * A random address in 198.18.0.0/15 (benchmarking, 65k addresses), so that the per-address limits of one test never
 * count another's requests; tests of those limits pick fixed addresses outside it.
 */
const randomSourceIp = () =>
  `198.${18 + Math.floor(Math.random() * 2)}.${Math.floor(Math.random() * 256)}.${1 + Math.floor(Math.random() * 254)}`

/** An API Gateway HTTP API (payload 2.0) event, built by the same code the local server uses. */
export function apiEvent(
  method: string,
  path: string,
  body?: string | Buffer,
  options: RequestOptions = {},
): APIGatewayProxyEventV2 {
  const route = findRoute(method, path)
  return toApiGatewayEvent(
    {
      method,
      url: path,
      headers: { host: 'api.test', ...options.headers },
      body,
      sourceIp: options.sourceIp ?? randomSourceIp(),
    },
    route ? `${route.method} ${route.path}` : '$default',
  )
}

export const jsonEvent = (path: string, body: unknown, options: RequestOptions = {}) =>
  apiEvent('POST', path, JSON.stringify(body), {
    ...options,
    headers: { 'content-type': 'application/json', ...options.headers },
  })

export const formEvent = (
  path: string,
  fields: Record<string, string> | string,
  options: RequestOptions = {},
) =>
  apiEvent('POST', path, typeof fields === 'string' ? fields : new URLSearchParams(fields).toString(), {
    ...options,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...options.headers },
  })

export const bearerEvent = (path: string, token: string, scheme = 'Bearer') =>
  apiEvent('GET', path, undefined, { headers: { authorization: `${scheme} ${token}` } })

/**
 * Invokes a handler as Lambda would and returns the response as API Gateway would write it. `timeoutMs` is the
 * invocation's deadline (the Lambda timeout), for tests that run many invocations at once on one CPU.
 */
export async function invoke(
  handler: Handler,
  event: APIGatewayProxyEventV2,
  options: { timeoutMs?: number } = {},
): Promise<TestResponse> {
  const result = fromApiGatewayResult(await handler(event, lambdaContext('test', options.timeoutMs)))
  const raw = result.body.toString('utf8')
  return {
    status: result.statusCode,
    headers: result.headers,
    body: raw === '' ? undefined : JSON.parse(raw),
    raw,
  }
}

let counter = 0
/** An email no other test uses, in canonical form. */
export const uniqueEmail = (prefix = 'user') =>
  `${prefix}.${process.pid}.${Date.now().toString(36)}.${(counter++).toString(36)}@example.com`
/** A username no other test uses. */
export const uniqueUsername = (prefix = 'u') =>
  `${prefix}_${process.pid}_${Date.now().toString(36)}_${counter++}`
