/**
 * CORS preflights as the deployed API routes them. No route of `functions/routes.ts` is an OPTIONS route, so API
 * Gateway hands every preflight to the `$default` route (not-found), then adds the configured CORS headers to its
 * answer; the browser sends the real request only if that answer is 2xx. Checked once through the handler and the
 * CORS layer directly, and once over HTTP through the local server, which routes the same way.
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { API_BASE_PATH, fallbackRoute, type Route, routes } from '#functions/routes'
import { fromApiGatewayResult, lambdaContext } from '#infra/local/event'
import { createLocalServer, loadHandler } from '#infra/local/server'
import { withCors } from '#shared/http/cors'
import { apiEvent, type TestResponse, uniqueEmail } from '#test/helpers/events'

const FRONT_END = 'https://app.example.com'
const OTHER_ORIGIN = 'https://elsewhere.example'
/** What a browser asks before a JSON POST or a call with a bearer token. */
const REQUESTED_HEADERS = 'authorization, content-type'

type Answer = Pick<TestResponse, 'status' | 'headers' | 'raw'>

const preflightHeaders = (origin: string, method: string) => ({
  origin,
  'access-control-request-method': method,
  'access-control-request-headers': REQUESTED_HEADERS,
})

const corsPart = (headers: Record<string, string>) =>
  Object.fromEntries(Object.entries(headers).filter(([name]) => /^access-control-|^vary$/.test(name)))

const list = (value: string | undefined) => (value ?? '').split(',').map((item) => item.trim().toLowerCase())

/** What the browser checks of a preflight answer (Fetch standard, CORS-preflight fetch): then it sends the request. */
function expectPreflightPasses(answer: Answer, origin: string, route: Route) {
  expect(answer.status).toBeGreaterThanOrEqual(200)
  expect(answer.status).toBeLessThan(300)
  expect(answer.raw).toBe('')
  expect(answer.headers['content-type']).toBeUndefined()
  expect(answer.headers['access-control-allow-origin']).toBe(origin)
  expect(list(answer.headers['access-control-allow-methods'])).toContain(route.method.toLowerCase())
  expect(list(answer.headers['access-control-allow-headers'])).toEqual(
    expect.arrayContaining(list(REQUESTED_HEADERS)),
  )
  expect(corsPart(answer.headers)).toEqual({
    'access-control-allow-origin': origin,
    'access-control-allow-methods': 'GET,POST,PUT,PATCH,DELETE,OPTIONS',
    'access-control-allow-headers': 'authorization,content-type',
    'access-control-max-age': '600',
    vary: 'origin',
  })
}

/** The event API Gateway sends the `$default` route's function, and its answer with API Gateway's CORS on top. */
async function throughDefaultRoute(
  origins: readonly string[],
  method: string,
  path: string,
  headers: Record<string, string>,
): Promise<Answer & { routeKey: string }> {
  const event = apiEvent(method, path, undefined, { headers })
  const handler = await loadHandler(fallbackRoute.function)
  const result = fromApiGatewayResult(await handler(event, lambdaContext(fallbackRoute.function)))
  const request = { method, origin: headers.origin, requestMethod: headers['access-control-request-method'] }
  return {
    routeKey: event.routeKey,
    status: result.statusCode,
    headers: withCors(origins, request, result.headers),
    raw: result.body.toString('utf8'),
  }
}

describe('a preflight, routed as the deployed API routes it', () => {
  /** A preflight for the route's method, from `origin`, to an API that allows `FRONT_END`. */
  const preflightFrom = (origin: string, route: Route) =>
    throughDefaultRoute([FRONT_END], 'OPTIONS', route.path, preflightHeaders(origin, route.method))

  it.each(routes)('$method $path: the fallback route answers 2xx, API Gateway adds CORS', async (route) => {
    const answer = await preflightFrom(FRONT_END, route)
    expect(answer.routeKey).toBe('$default')
    expectPreflightPasses(answer, FRONT_END, route)
  })

  it.each(routes)(
    '$method $path: another origin gets no CORS headers, so its browser refuses',
    async (route) => {
      expect(corsPart((await preflightFrom(OTHER_ORIGIN, route)).headers)).toEqual({ vary: 'origin' })
    },
  )

  it('answers a preflight to an unknown path 2xx too, so the request that follows reads its 404', async () => {
    const path = `${API_BASE_PATH}/auth/typo`
    const preflight = await throughDefaultRoute(
      [FRONT_END],
      'OPTIONS',
      path,
      preflightHeaders(FRONT_END, 'POST'),
    )
    expect(preflight).toMatchObject({ status: 204, raw: '' })
    expect(preflight.headers['access-control-allow-origin']).toBe(FRONT_END)
    const request = await throughDefaultRoute([FRONT_END], 'POST', path, { origin: FRONT_END })
    expect(request).toMatchObject({ status: 404, raw: '{"detail":"Not Found"}' })
    expect(corsPart(request.headers)).toEqual({
      'access-control-allow-origin': FRONT_END,
      'access-control-expose-headers': 'retry-after,www-authenticate,content-disposition',
      vary: 'origin',
    })
  })

  it('keeps 405 with Allow for another method than OPTIONS on a known path', async () => {
    const answer = await throughDefaultRoute([FRONT_END], 'GET', `${API_BASE_PATH}/auth/login`, {
      origin: FRONT_END,
    })
    expect(answer).toMatchObject({ status: 405, raw: '{"detail":"Method Not Allowed"}' })
    expect(answer.headers.allow).toBe('POST')
  })
})

describe('a preflight over HTTP, through the local server', () => {
  const servers: Server[] = []
  afterAll(async () => {
    for (const server of servers) {
      server.closeAllConnections()
      await new Promise((done) => server.close(done))
    }
  })

  async function localServer(corsOrigins: string[]): Promise<string> {
    const server = createLocalServer({ corsOrigins })
    servers.push(server)
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  }

  async function send(url: string, init: RequestInit): Promise<Answer> {
    const response = await fetch(url, init)
    return {
      status: response.status,
      headers: Object.fromEntries(response.headers),
      raw: await response.text(),
    }
  }

  let base: string
  beforeAll(async () => {
    base = await localServer([FRONT_END])
  })

  it.each(routes)('$method $path: 2xx with the CORS headers for an allowed origin', async (route) => {
    const answer = await send(`${base}${route.path}`, {
      method: 'OPTIONS',
      headers: preflightHeaders(FRONT_END, route.method),
    })
    expectPreflightPasses(answer, FRONT_END, route)
  })

  it.each(routes)('$method $path: no CORS headers for another origin', async (route) => {
    const answer = await send(`${base}${route.path}`, {
      method: 'OPTIONS',
      headers: preflightHeaders(OTHER_ORIGIN, route.method),
    })
    expect(answer.status).toBe(204)
    expect(corsPart(answer.headers)).toEqual({ vary: 'origin' })
  })

  it('then lets the front end read the JSON POST that follows, its WWW-Authenticate included', async () => {
    const answer = await send(`${base}${API_BASE_PATH}/auth/login`, {
      method: 'POST',
      headers: { origin: FRONT_END, 'content-type': 'application/json' },
      body: JSON.stringify({ email: uniqueEmail('preflight'), password: 'not the password' }),
    })
    expect(answer).toMatchObject({ status: 401, raw: '{"detail":"Incorrect email or password"}' })
    expect(answer.headers['www-authenticate']).toBe('Bearer')
    expect(corsPart(answer.headers)).toEqual({
      'access-control-allow-origin': FRONT_END,
      'access-control-expose-headers': 'retry-after,www-authenticate,content-disposition',
      vary: 'origin',
    })
  })
})
