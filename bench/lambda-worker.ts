/**
 * The Lambda side of the warm-latency and throughput runs, in a process of its own: its environment (database,
 * secret, bcrypt cost) is set by the parent before the handlers are imported, as a function's configuration is set
 * before its init, and its stdout (the handlers' access log) goes nowhere, as it would go to CloudWatch. Driven over
 * IPC: `prepare`, then `latency`, then `serve`, then `stop`.
 */
import { randomUUID } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import type { APIGatewayProxyEventV2 } from 'aws-lambda'
// The floors, and the parts of `me` measured for the closing note, call the libraries themselves.
import bcrypt from 'bcryptjs'
import { eq, sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/neon-serverless'
import { decodeJwt, importJWK, jwtVerify } from 'jose'
import { createSessionRepository } from '#db/repositories/sessions'
import { users as usersTable } from '#db/schema'
import { handler as getPreferences } from '#functions/get-preferences'
import { handler as health } from '#functions/health'
import { handler as login } from '#functions/login'
import { handler as logout } from '#functions/logout'
import { handler as me } from '#functions/me'
import { handler as refresh } from '#functions/refresh'
import { handler as register } from '#functions/register'
import { handler as token } from '#functions/token'
import { createLocalServer } from '#infra/local/server'
import { apiContainer } from '#shared/app/container'
import { disposeAll } from '#shared/app/memo'
import { parseSigningKeySet, publishedKeys } from '#shared/domain/signing-keys'
import { createTokenService, systemClock } from '#shared/domain/tokens'
import { apiEvent, callHandler, createStatementCounter, type Handler, jsonEvent } from './handler-calls.ts'

export interface LatencySeries {
  endpoint: string
  floor: string
  /** Milliseconds per call, in call order. */
  endpointMs: number[]
  floorMs: number[]
  /** `pool.query` calls per endpoint call, in call order. */
  roundTrips: number[]
  /** A piece of an endpoint's work, timed in the same rounds, for the closing note rather than the table. */
  part?: true
}

export type WorkerRequest =
  | { type: 'latency'; calls: number; warmup: number }
  | { type: 'serve' }
  | { type: 'stop' }

export type WorkerReply =
  | { type: 'ready'; accessToken: string; email: string; password: string; bcryptCost: number }
  | { type: 'latency'; series: LatencySeries[]; defaultCostCompareMs: number[] }
  | { type: 'serving'; port: number }
  | { type: 'error'; message: string }

const send = (reply: WorkerReply) => process.send?.(reply)
const PASSWORD = 'bench-password-1'
const { database, config } = await apiContainer()()
const { pool } = database

const statements = createStatementCounter()
statements.watch()

const event = apiEvent
const json = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  jsonEvent('POST', path, body, headers)
const form = (path: string, fields: Record<string, string>) =>
  event('POST', path, new URLSearchParams(fields).toString(), {
    'content-type': 'application/x-www-form-urlencoded',
  })
const call = (handler: Handler, request: APIGatewayProxyEventV2, expected: number) =>
  callHandler(handler, request, expected, statements)

let unique = 0
const uniqueEmail = (prefix: string) =>
  `${prefix}.${process.pid}.${Date.now().toString(36)}.${unique++}@bench.local`

/**
 * One registered user whose password every login uses, and a first token pair; and another account for the timed
 * logins alone, so that their sessions never take the first pair's past MAX_SESSIONS_PER_USER.
 */
async function prepare() {
  const email = uniqueEmail('login')
  await call(register, json('/api/v1/auth/register', { email, password: PASSWORD }), 201)
  const pair = await call(login, json('/api/v1/auth/login', { email, password: PASSWORD }), 200)
  const loginEmail = uniqueEmail('logins')
  await call(register, json('/api/v1/auth/register', { email: loginEmail, password: PASSWORD }), 201)
  return { email, loginEmail, accessToken: String(pair.access_token) }
}

const fixture = await prepare()

interface Step {
  /** Builds the request outside the timed section, then returns the timed call. */
  endpoint: () => () => Promise<unknown>
  floor: () => () => Promise<unknown>
}

/**
 * Alternates endpoint and floor calls, so both see the same machine; the first `warmup` pairs are not kept. `parts`,
 * pieces of the endpoint's work, are timed in the same rounds, each as a series of its own beside the same floor.
 */
async function series(
  name: string,
  floor: string,
  step: Step,
  calls: number,
  warmup: number,
  parts: [string, () => Promise<unknown>][] = [],
): Promise<LatencySeries[]> {
  const result: LatencySeries = { endpoint: name, floor, endpointMs: [], floorMs: [], roundTrips: [] }
  const partResults = parts.map(
    ([part]): LatencySeries => ({
      endpoint: part,
      floor,
      endpointMs: [],
      floorMs: result.floorMs,
      roundTrips: [],
      part: true,
    }),
  )
  const time = async (run: () => Promise<unknown>) => {
    const started = performance.now()
    await run()
    return performance.now() - started
  }
  for (let i = 0; i < warmup + calls; i++) {
    const endpointCall = step.endpoint()
    const before = statements.total
    const endpointMs = await time(endpointCall)
    const trips = statements.total - before
    const floorMs = await time(step.floor())
    const partMs: number[] = []
    for (const [, run] of parts) partMs.push(await time(run))
    if (i < warmup) continue
    result.endpointMs.push(endpointMs)
    result.floorMs.push(floorMs)
    result.roundTrips.push(trips)
    for (const [index, ms] of partMs.entries()) partResults[index]?.endpointMs.push(ms)
  }
  return [result, ...partResults]
}

const select1 = () => () => pool.query('select 1')

/** A chain of refresh tokens: each call spends the last one and keeps the one it gets back. */
async function refreshChain() {
  const pair = await call(
    login,
    json('/api/v1/auth/login', { email: fixture.email, password: PASSWORD }),
    200,
  )
  let current = String(pair.refresh_token)
  return {
    current: () => current,
    next: (body: Record<string, unknown>) => {
      current = String(body.refresh_token)
    },
  }
}

async function latency(calls: number, warmup: number): Promise<LatencySeries[]> {
  const cost = config.BCRYPT_COST
  // The sub-millisecond series get more unrecorded calls, so the JIT has settled before any is recorded.
  const quickWarmup = Math.max(warmup, 200)
  const results: LatencySeries[] = []
  const bearer = { authorization: `Bearer ${fixture.accessToken}` }

  // What `me` does besides its one round trip, timed in the same rounds as `me` itself, for the closing note.
  const userId = Number((await call(me, event('GET', '/api/v1/users/me', undefined, bearer), 200)).id)
  const sessions = createSessionRepository(database.db, {
    maxAgeSeconds: config.SESSION_MAX_AGE_SECONDS,
    reuseIntervalSeconds: config.REFRESH_TOKEN_REUSE_INTERVAL_SECONDS,
    maxPerUser: config.MAX_SESSIONS_PER_USER,
  })
  const { sid } = decodeJwt(fixture.accessToken)
  const sessionId = typeof sid === 'string' ? sid : null
  const keySet = parseSigningKeySet(String(config.JWT_SIGNING_KEYS))
  if (!keySet) throw new Error('the bench runs with an inline JWT_SIGNING_KEYS')
  const verifier = createTokenService({
    keys: { signing: keySet, published: publishedKeys(keySet) },
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    clientId: config.JWT_CLIENT_ID,
    accessTokenTtlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
    refreshTokenTtlSeconds: config.REFRESH_TOKEN_TTL_SECONDS,
    clock: systemClock,
  })
  const findUser =
    'select id, email, username, hashed_password, is_active, is_superuser, created_at, updated_at from users where id = $1'
  const verifyingKey = await importJWK(keySet.current.publicJwk, 'RS256')
  const preparedFindUser = drizzle({ client: pool })
    .select()
    .from(usersTable)
    .where(eq(usersTable.id, sql.placeholder('id')))
    .prepare('bench_find_user_by_id')
  const parts: [string, () => Promise<unknown>][] = [
    ['me: sessions.findUser (its one statement)', () => sessions.findUser(userId, sessionId)],
    ['me: the same query, prepared once in drizzle', () => preparedFindUser.execute({ id: userId })],
    ['me: the same SELECT, raw', () => pool.query(findUser, [userId])],
    [
      'me: the same SELECT, prepared once',
      () => pool.query({ name: 'bench-find-user', text: findUser, values: [userId] }),
    ],
    ['me: verify the access token', () => verifier.verifyAccessToken(fixture.accessToken)],
    [
      'me: verify it with jose (jwtVerify, key imported once)',
      () =>
        jwtVerify(fixture.accessToken, verifyingKey, {
          algorithms: ['RS256'],
          issuer: config.JWT_ISSUER,
          audience: config.JWT_AUDIENCE,
          typ: 'at+jwt',
          requiredClaims: ['exp', 'iat', 'sub', 'jti'],
        }),
    ],
  ]
  results.push(
    ...(await series(
      'me',
      'SELECT 1',
      {
        endpoint: () => {
          const request = event('GET', '/api/v1/users/me', undefined, bearer)
          return () => call(me, request, 200)
        },
        floor: select1,
      },
      calls,
      quickWarmup,
      parts,
    )),
  )
  // A route behind row-level security: the session checked as `me` checks it, then the claims, the role and the
  // read in one simple query (one implicit transaction). Beside `me` (its target) and SELECT 1 (a part, same rounds).
  results.push(
    ...(await series(
      'preferences',
      'me',
      {
        endpoint: () => {
          const request = event('GET', '/api/v1/users/me/preferences', undefined, bearer)
          return () => call(getPreferences, request, 200)
        },
        floor: () => {
          const request = event('GET', '/api/v1/users/me', undefined, bearer)
          return () => call(me, request, 200)
        },
      },
      calls,
      quickWarmup,
      [['preferences: SELECT 1 (in the same rounds)', () => pool.query('select 1')]],
    )),
  )
  results.push(
    ...(await series(
      'health',
      'SELECT 1',
      {
        endpoint: () => {
          const request = event('GET', '/api/v1/health')
          return () => call(health, request, 200)
        },
        floor: select1,
      },
      calls,
      quickWarmup,
    )),
  )

  const refreshTokens = await refreshChain()
  results.push(
    ...(await series(
      'refresh',
      'SELECT 1',
      {
        endpoint: () => {
          const request = json('/api/v1/auth/refresh', { refresh_token: refreshTokens.current() })
          return async () => refreshTokens.next(await call(refresh, request, 200))
        },
        floor: select1,
      },
      calls,
      quickWarmup,
    )),
  )

  const tokenGrants = await refreshChain()
  results.push(
    ...(await series(
      'token (refresh_token grant)',
      'SELECT 1',
      {
        endpoint: () => {
          const request = form('/api/v1/auth/token', {
            grant_type: 'refresh_token',
            refresh_token: tokenGrants.current(),
          })
          return async () => tokenGrants.next(await call(token, request, 200))
        },
        floor: select1,
      },
      calls,
      quickWarmup,
    )),
  )

  // Live refresh tokens, each of its own session, for logout to revoke: stored directly, one statement each.
  const issuer = createTokenService({
    // Only refresh tokens are issued here: no key signs anything.
    keys: { published: [] },
    issuer: 'bench',
    audience: 'bench',
    clientId: 'bench',
    accessTokenTtlSeconds: 900,
    refreshTokenTtlSeconds: 3600,
    clock: systemClock,
  })
  const logoutTokens: string[] = []
  for (let i = 0; i < calls + quickWarmup; i++) {
    const issued = issuer.issueRefreshToken()
    await pool.query(
      `with session as (insert into sessions (id, user_id) values ($1, $2) returning id)
       insert into refresh_tokens (token_hash, session_id, expires_at) select $3, id, $4 from session`,
      [randomUUID(), userId, issued.hash, issued.expiresAt],
    )
    logoutTokens.push(issued.token)
  }
  results.push(
    ...(await series(
      'logout',
      'SELECT 1',
      {
        endpoint: () => {
          const request = json('/api/v1/auth/logout', { refresh_token: logoutTokens.pop() })
          return () => call(logout, request, 204)
        },
        floor: select1,
      },
      calls,
      quickWarmup,
    )),
  )

  const stored = await pool.query('select hashed_password from users where email = $1', [fixture.loginEmail])
  const storedHash = String((stored.rows[0] as { hashed_password: string }).hashed_password)
  results.push(
    ...(await series(
      'login',
      `bcrypt compare (cost ${cost})`,
      {
        endpoint: () => {
          const request = json('/api/v1/auth/login', { email: fixture.loginEmail, password: PASSWORD })
          return () => call(login, request, 200)
        },
        floor: () => () => bcrypt.compare(PASSWORD, storedHash),
      },
      calls,
      warmup,
      [
        [
          'login: the user by email, raw',
          () =>
            pool.query(
              'select id, email, username, hashed_password, is_active, is_superuser, created_at, updated_at from users where email = $1',
              [fixture.loginEmail],
            ),
        ],
        [
          'login: one INSERT and its commit, raw',
          () => {
            return pool.query('insert into sessions (id, user_id) values ($1, $2)', [randomUUID(), userId])
          },
        ],
        [
          'login: sign the access token',
          () => verifier.issueAccessToken({ userId, sessionId: randomUUID() }),
        ],
      ],
    )),
  )

  results.push(
    ...(await series(
      'register',
      `bcrypt hash (cost ${cost}) + INSERT`,
      {
        endpoint: () => {
          const request = json('/api/v1/auth/register', {
            email: uniqueEmail('register'),
            password: PASSWORD,
          })
          return () => call(register, request, 201)
        },
        floor: () => {
          const email = uniqueEmail('floor')
          return async () => {
            const hash = await bcrypt.hash(PASSWORD, cost)
            await pool.query('insert into users (email, hashed_password) values ($1, $2)', [email, hash])
          }
        },
      },
      calls,
      warmup,
    )),
  )
  return results
}

/** A few compares at the service's default cost, 12, to say what the login ratio becomes there. */
async function compareAtDefaultCost(): Promise<number[]> {
  const hash = await bcrypt.hash(PASSWORD, 12)
  const times: number[] = []
  for (let i = 0; i < 6; i++) {
    const started = performance.now()
    await bcrypt.compare(PASSWORD, hash)
    times.push(performance.now() - started)
  }
  return times.slice(1)
}

process.on('message', async (request: WorkerRequest) => {
  try {
    if (request.type === 'latency')
      send({
        type: 'latency',
        series: await latency(request.calls, request.warmup),
        defaultCostCompareMs: await compareAtDefaultCost(),
      })
    if (request.type === 'serve') {
      const server = createLocalServer()
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      send({ type: 'serving', port: (server.address() as AddressInfo).port })
    }
    if (request.type === 'stop') {
      await disposeAll()
      process.exit(0)
    }
  } catch (error) {
    send({ type: 'error', message: error instanceof Error ? error.message : String(error) })
  }
})

send({
  type: 'ready',
  accessToken: fixture.accessToken,
  email: fixture.email,
  password: PASSWORD,
  bcryptCost: config.BCRYPT_COST,
})
