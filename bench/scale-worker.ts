/**
 * The Lambda side of `npm run bench:scale`, in a process of its own, as `lambda-worker.ts` is for `npm run bench`: the
 * function's environment is set by the parent before the handlers are imported, and its stdout (the access log) goes
 * nowhere. The handlers are invoked in-process with API Gateway events, through the same Neon driver and WebSocket
 * proxy as deployed, so a figure is the function's own work and its round trips, without the local HTTP server's.
 * Driven over IPC: `latency` (each endpoint, each call followed by its floor), `window-start` / `window-stop` (the
 * cheap endpoints in turn, until told to stop: the API while a cleanup runs), then `stop`.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda'
import { handler as listSessions } from '#functions/list-sessions'
import { handler as login } from '#functions/login'
import { handler as me } from '#functions/me'
import { handler as passwordReset } from '#functions/password-reset'
import { handler as refresh } from '#functions/refresh'
import { handler as register } from '#functions/register'
import { apiContainer } from '#shared/app/container'
import { disposeAll } from '#shared/app/memo'
import { createPasswordHasher } from '#shared/domain/passwords'
import { apiEvent, callHandler, createStatementCounter, type Handler, jsonEvent } from './handler-calls.ts'
import {
  SCALE_ENDPOINTS,
  SCALE_PASSWORD,
  type ScaleEndpoint,
  type ScaleSeries,
  type ScaleWorkerReply,
  type ScaleWorkerRequest,
  WINDOW_ENDPOINTS,
} from './scale-protocol.ts'

const send = (reply: ScaleWorkerReply) => process.send?.(reply)
/** Reset requests rotate over this many accounts, each well under the per-email limit the parent sets. */
const RESET_ACCOUNTS = 20

const { database, config } = await apiContainer()()
const { pool } = database
const hasher = createPasswordHasher({ cost: config.BCRYPT_COST })

const statements = createStatementCounter()

/** A request; `body`, when given, as JSON. */
const event = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  body === undefined ? apiEvent(method, path, undefined, headers) : jsonEvent(method, path, body, headers)
const call = (handler: Handler, request: APIGatewayProxyEventV2, expected: number) =>
  callHandler(handler, request, expected, statements)

const run = `${process.pid.toString(36)}.${Date.now().toString(36)}`
const email = (role: string) => `${role}.${run}@bench.local`

/**
 * Accounts registered on the empty database, used alike before and after the load: one that logs in (its sessions
 * pile up), one with three sessions for `me` and the session list, one whose refresh tokens are rotated, and the
 * accounts reset requests are made for.
 */
async function prepare() {
  const accounts = {
    login: email('login'),
    reader: email('reader'),
    refresher: email('refresher'),
    resets: Array.from({ length: RESET_ACCOUNTS }, (_, i) => email(`reset${i}`)),
  }
  for (const address of [accounts.login, accounts.reader, accounts.refresher, ...accounts.resets]) {
    await call(
      register,
      event('POST', '/api/v1/auth/register', { email: address, password: SCALE_PASSWORD }),
      201,
    )
  }
  let accessToken = ''
  for (let i = 0; i < 3; i++) {
    const pair = await call(
      login,
      event('POST', '/api/v1/auth/login', { email: accounts.reader, password: SCALE_PASSWORD }),
      200,
    )
    accessToken = String(pair.access_token)
  }
  const stored = await pool.query('select hashed_password from users where email = $1', [accounts.login])
  const storedHash = String((stored.rows[0] as { hashed_password: string }).hashed_password)
  return { accounts, bearer: { authorization: `Bearer ${accessToken}` }, storedHash }
}

const fixture = await prepare()

/** A chain of refresh tokens of one session: each call spends the last one and keeps the one it gets back. */
async function refreshChain() {
  const pair = await call(
    login,
    event('POST', '/api/v1/auth/login', { email: fixture.accounts.refresher, password: SCALE_PASSWORD }),
    200,
  )
  let current = String(pair.refresh_token)
  return async () => {
    const request = event('POST', '/api/v1/auth/refresh', { refresh_token: current })
    return async () => {
      current = String((await call(refresh, request, 200)).refresh_token)
    }
  }
}

let resets = 0
/** Each endpoint's next call: the request is built before the returned function, which is the timed part. */
async function endpointCalls(): Promise<Record<ScaleEndpoint, () => Promise<() => Promise<unknown>>>> {
  const nextRefresh = await refreshChain()
  return {
    login: async () => {
      const request = event('POST', '/api/v1/auth/login', {
        email: fixture.accounts.login,
        password: SCALE_PASSWORD,
      })
      return () => call(login, request, 200)
    },
    refresh: nextRefresh,
    me: async () => {
      const request = event('GET', '/api/v1/users/me', undefined, fixture.bearer)
      return () => call(me, request, 200)
    },
    sessions: async () => {
      const request = event('GET', '/api/v1/users/me/sessions', undefined, fixture.bearer)
      return () => call(listSessions, request, 200)
    },
    'password-reset': async () => {
      const address = fixture.accounts.resets[resets++ % RESET_ACCOUNTS]
      const request = event('POST', '/api/v1/auth/password-reset', { email: address })
      return () => call(passwordReset, request, 202)
    },
  }
}

const time = async (run: () => Promise<unknown>) => {
  const started = performance.now()
  await run()
  return performance.now() - started
}

const select1 = async () => () => pool.query('select 1')
const floors: Record<ScaleEndpoint, [string, () => Promise<() => Promise<unknown>>]> = {
  login: [
    `bcrypt compare (cost ${config.BCRYPT_COST})`,
    async () => () => hasher.verify(SCALE_PASSWORD, fixture.storedHash),
  ],
  refresh: ['SELECT 1', select1],
  me: ['SELECT 1', select1],
  sessions: ['SELECT 1', select1],
  'password-reset': ['SELECT 1', select1],
}

/** Every endpoint in turn, each call followed by one call of its floor, as `npm run bench` alternates them. */
async function latency(calls: number, loginCalls: number, warmup: number): Promise<ScaleSeries[]> {
  const next = await endpointCalls()
  const results: ScaleSeries[] = []
  for (const endpoint of SCALE_ENDPOINTS) {
    const [floor, nextFloor] = floors[endpoint]
    const series: ScaleSeries = { endpoint, floor, endpointMs: [], floorMs: [], roundTrips: [] }
    const count = endpoint === 'login' ? loginCalls : calls
    const unrecorded = endpoint === 'login' ? Math.min(warmup, 5) : warmup
    for (let i = 0; i < unrecorded + count; i++) {
      const timed = await next[endpoint]()
      const before = statements.total
      const endpointMs = await time(timed)
      const trips = statements.total - before
      const floorMs = await time(await nextFloor())
      if (i < unrecorded) continue
      series.endpointMs.push(endpointMs)
      series.floorMs.push(floorMs)
      series.roundTrips.push(trips)
    }
    results.push(series)
  }
  return results
}

const windowState = { stop: false, done: Promise.resolve<ScaleSeries[]>([]), started: 0 }

/** The window's endpoints one after another, one at a time, until `windowState.stop`. */
async function callInTurn(next: Awaited<ReturnType<typeof endpointCalls>>): Promise<ScaleSeries[]> {
  const series = WINDOW_ENDPOINTS.map(
    (endpoint): ScaleSeries => ({ endpoint, floor: '', endpointMs: [], floorMs: [], roundTrips: [] }),
  )
  while (!windowState.stop) {
    for (const item of series) item.endpointMs.push(await time(await next[item.endpoint]()))
  }
  return series
}

process.on('message', async (request: ScaleWorkerRequest) => {
  try {
    if (request.type === 'latency')
      send({ type: 'latency', series: await latency(request.calls, request.loginCalls, request.warmup) })
    if (request.type === 'window-start') {
      // The refresh chain's login (a bcrypt compare) comes before the window, so the caller's clock starts with
      // the calls.
      const next = await endpointCalls()
      windowState.stop = false
      windowState.started = performance.now()
      windowState.done = callInTurn(next)
      send({ type: 'window-started' })
    }
    if (request.type === 'window-stop') {
      windowState.stop = true
      const series = await windowState.done
      send({ type: 'window', series, ms: performance.now() - windowState.started })
    }
    if (request.type === 'stop') {
      await disposeAll()
      process.exit(0)
    }
  } catch (error) {
    send({ type: 'error', message: error instanceof Error ? error.message : String(error) })
  }
})

send({ type: 'ready', bcryptCost: config.BCRYPT_COST })
