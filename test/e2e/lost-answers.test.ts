/**
 * Answers lost after the COMMIT. The functions reach PostgreSQL through a fault-injecting proxy (test/helpers/
 * fault-proxy.ts) behind the local WebSocket proxy, as Neon's proxy sits in front of the real one; armed with a
 * statement, it lets the server commit it, drops the answer and cuts the connection. The driver retries the
 * statement once on a fresh connection, and the statement must find its own committed work instead of applying it
 * twice: the client gets the answer it would have had, with nothing counted or recorded twice.
 */
import { randomUUID } from 'node:crypto'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createDatabase, type DatabaseHandle } from '#db/client'
import { type LocalLambda, startLocalLambda } from '#infra/local/lambda-service'
import { type MailCatcher, startMailCatcher } from '#infra/local/mail-catcher'
import { startWsProxy, type WsProxy } from '#infra/local/ws-proxy'
import { disposeAll } from '#shared/app/memo'
import { hashResetToken, newResetToken, resetEmailKey } from '#shared/domain/password-reset-service'
import { bearerEvent, invoke, jsonEvent, uniqueEmail } from '#test/helpers/events'
import { type DroppedAnswer, type FaultProxy, startFaultProxy } from '#test/helpers/fault-proxy'
import type { TokenPairBody } from '#test/helpers/users'

/** Fragments of the statements whose answers are lost, as the repositories write them. */
const STATEMENTS = {
  /** logins.ts `startSession`: the session, its first token, the cleared count and the login event, in one. */
  startSession: 'insert into "sessions" (id, user_id',
  /** sessions.ts `rotate`: the session's row is updated first, then the token retired and its successor stored. */
  rotate: 'update "sessions" s set last_used_at',
  /** users.ts `register`: the user and the register event, in one. */
  register: 'insert into "users" (email, username, hashed_password)',
  /** users.ts `reserveRegistration`: the address's count, before the hash. */
  reserveRegistration: 'window_started_at, recent_hits)',
  /** logins.ts `begin`: the attempt counted on the email and the address before its compare. */
  begin: 'insert into "login_attempts" as a',
  /** mail-requests.ts (a reset request): the limits counted and the mail job queued, in one. */
  resetRequest: 'insert into "mail_outbox" (id, kind, user_id, recipient)',
  /** password-resets.ts `complete`: the link used up, the password changed, sessions revoked, the notice queued. */
  resetComplete: 'delete from "password_reset_tokens" t using',
}

type Handler = Parameters<typeof invoke>[0]

let faults: FaultProxy
let login: Handler
let me: Handler
let refresh: Handler
let register: Handler
let requestReset: Handler
let confirmReset: Handler
let wsProxy: WsProxy
/** The mail sender, run by a local Lambda and sending to a real SMTP server, as the functions queue mail. */
let lambda: LocalLambda
let catcher: MailCatcher
/** The cluster's superuser on the service's database, through the same proxies (they only drop when armed). */
let database: DatabaseHandle

/** The server's URL `url` names, reached through the fault proxy instead. */
const throughFaults = (url: string, databaseName?: string) => {
  const via = new URL(url)
  via.host = faults.address
  if (databaseName) via.pathname = `/${databaseName}`
  return via.toString()
}

beforeAll(async () => {
  const api = new URL(inject('databaseUrl'))
  faults = await startFaultProxy({ host: api.hostname, port: Number(api.port) })
  // The WebSocket proxy forwards only to the one address it serves: here, the fault proxy.
  wsProxy = await startWsProxy({ host: '127.0.0.1', port: faults.port })
  // Read once, at the functions' cold start, which begins when a handler's module is imported: so the handlers are
  // imported only now (a test file is a process of its own).
  process.env.DATABASE_URL = throughFaults(inject('databaseUrl'))
  process.env.DATABASE_WS_PROXY = wsProxy.address
  catcher = await startMailCatcher()
  lambda = await startLocalLambda({ retryDelaysMs: [10, 10] })
  Object.assign(process.env, {
    MAILER_FUNCTION_NAME: 'send-mail',
    AWS_ENDPOINT_URL_LAMBDA: lambda.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    SMTP_URL: catcher.smtpUrl,
    MAIL_FROM: 'no-reply@example.test',
    PASSWORD_RESET_URL: 'https://app.example.test/reset?token={token}',
  })
  ;[
    { handler: login },
    { handler: me },
    { handler: refresh },
    { handler: register },
    { handler: requestReset },
    { handler: confirmReset },
  ] = await Promise.all([
    import('#functions/login'),
    import('#functions/me'),
    import('#functions/refresh'),
    import('#functions/register'),
    import('#functions/password-reset'),
    import('#functions/password-reset-confirm'),
  ])
  database = createDatabase({
    url: throughFaults(inject('superuserUrl'), api.pathname.slice(1)),
    wsProxy: wsProxy.address,
    connectTimeoutMs: 3000,
    poolMax: 2,
  })
})

afterAll(async () => {
  await lambda?.close()
  await catcher?.stop()
  await disposeAll()
  await database?.close()
  await wsProxy?.close()
  await faults?.close()
})

/** A source address in 100.64.0.0/24, which no other test uses, so its rate-limit rows count this file's requests only. */
const newSourceIp = () => `100.64.0.${1 + Math.floor(Math.random() * 254)}`

/**
 * Runs `request` with the answer to `fragment`'s statement lost, and returns the request's outcome and what the
 * proxy dropped. Fails when nothing was dropped: a scenario that passed without a fault would prove nothing.
 */
async function withLostAnswer<T>(
  fragment: string,
  request: () => Promise<T>,
): Promise<{ result: T; drop: DroppedAnswer }> {
  const before = faults.drops.length
  faults.arm(fragment)
  const result = await request()
  expect(faults.armed, `no statement contained ${JSON.stringify(fragment)}`).toBe(false)
  expect(faults.drops).toHaveLength(before + 1)
  const drop = faults.drops[before] as DroppedAnswer
  // The server finished the statement and was idle again (autocommit: it committed) before the answer was dropped.
  expect(drop).toMatchObject({ fragment, completed: true, transactionStatus: 'I' })
  expect(drop.withheld.at(-1)).toBe('Z')
  return { result, drop }
}

const rows = async <T extends Record<string, unknown>>(query: ReturnType<typeof sql>) =>
  (await database.db.execute<T>(query)).rows

const eventsOf = (userId: number) =>
  rows<{ type: string }>(sql`select type from security_events where user_id = ${userId} order by id`)

async function registered(email: string, password: string): Promise<number> {
  const response = await invoke(register, jsonEvent('/api/v1/auth/register', { email, password }))
  expect(response.status).toBe(201)
  return (response.body as { id: number }).id
}

const logIn = (email: string, password: string, sourceIp = newSourceIp()) =>
  invoke(login, jsonEvent('/api/v1/auth/login', { email, password }, { sourceIp }))
const useRefresh = (refreshToken: string) =>
  invoke(refresh, jsonEvent('/api/v1/auth/refresh', { refresh_token: refreshToken }))

const TOKEN_PAIR = {
  access_token: expect.any(String),
  refresh_token: expect.any(String),
  token_type: 'bearer',
  expires_in: expect.any(Number),
}

describe('an answer lost after the commit', () => {
  it('still answers a login with a working pair, with one session and one login event', async () => {
    const email = uniqueEmail('lost-login')
    const userId = await registered(email, 'correct horse battery')

    const { result } = await withLostAnswer(STATEMENTS.startSession, () =>
      logIn(email, 'correct horse battery'),
    )

    expect(result).toMatchObject({ status: 200, body: TOKEN_PAIR })
    const pair = result.body as TokenPairBody
    expect((await invoke(me, bearerEvent('/api/v1/users/me', pair.access_token))).status).toBe(200)
    expect(await rows(sql`select id from sessions where user_id = ${userId}`)).toHaveLength(1)
    expect(
      await rows(sql`select 1 from refresh_tokens t join sessions s on s.id = t.session_id
        where s.user_id = ${userId}`),
    ).toHaveLength(1)
    expect(await eventsOf(userId)).toEqual([{ type: 'register' }, { type: 'login_success' }])
    expect((await useRefresh(pair.refresh_token)).status).toBe(200)
  })

  it('still answers a refresh with a working pair, without taking the retry for a replay', async () => {
    const email = uniqueEmail('lost-refresh')
    const userId = await registered(email, 'correct horse battery')
    const first = (await logIn(email, 'correct horse battery')).body as TokenPairBody

    const { result } = await withLostAnswer(STATEMENTS.rotate, () => useRefresh(first.refresh_token))

    expect(result).toMatchObject({ status: 200, body: TOKEN_PAIR })
    const next = result.body as TokenPairBody
    expect(next.refresh_token).not.toBe(first.refresh_token)
    expect(
      await rows(sql`select revoked_at, revoked_reason from sessions where user_id = ${userId}`),
    ).toEqual([{ revoked_at: null, revoked_reason: null }])
    expect(await eventsOf(userId)).toEqual([
      { type: 'register' },
      { type: 'login_success' },
      { type: 'refresh' },
    ])
    expect((await invoke(me, bearerEvent('/api/v1/users/me', next.access_token))).status).toBe(200)
    expect(await useRefresh(next.refresh_token)).toMatchObject({ status: 200, body: TOKEN_PAIR })
    expect((await eventsOf(userId)).map((event) => event.type)).not.toContain('refresh_reuse_detected')
  })

  it('still answers a registration with 201 and the user, stored and counted once', async () => {
    const email = uniqueEmail('lost-register')
    const sourceIp = newSourceIp()

    const { result } = await withLostAnswer(STATEMENTS.register, () =>
      invoke(
        register,
        jsonEvent('/api/v1/auth/register', { email, password: 'correct horse battery' }, { sourceIp }),
      ),
    )

    expect(result).toMatchObject({
      status: 201,
      body: { id: expect.any(Number), email, username: null, is_active: true, is_superuser: false },
    })
    const userId = (result.body as { id: number }).id
    expect(await rows(sql`select id from users where email = ${email}`)).toEqual([{ id: userId }])
    expect(await eventsOf(userId)).toEqual([{ type: 'register' }])
    expect(await rows(sql`select hits from rate_limits where key = ${`register:${sourceIp}`}`)).toEqual([
      { hits: 1 },
    ])
    expect((await logIn(email, 'correct horse battery')).status).toBe(200)
  })

  it("counts a registration once when the answer to the address's count is lost", async () => {
    const email = uniqueEmail('lost-reservation')
    const sourceIp = newSourceIp()

    const { result } = await withLostAnswer(STATEMENTS.reserveRegistration, () =>
      invoke(
        register,
        jsonEvent('/api/v1/auth/register', { email, password: 'correct horse battery' }, { sourceIp }),
      ),
    )

    expect(result).toMatchObject({ status: 201, body: { email } })
    expect(await rows(sql`select hits from rate_limits where key = ${`register:${sourceIp}`}`)).toEqual([
      { hits: 1 },
    ])
  })

  it("gives a right password's place back to the address once when the answer to its reservation is lost", async () => {
    const email = uniqueEmail('lost-success')
    await registered(email, 'correct horse battery')
    const sourceIp = newSourceIp()

    const { result } = await withLostAnswer(STATEMENTS.begin, () =>
      logIn(email, 'correct horse battery', sourceIp),
    )

    expect(result).toMatchObject({ status: 200, body: TOKEN_PAIR })
    expect(await rows(sql`select hits from rate_limits where key = ${`login-failures:${sourceIp}`}`)).toEqual(
      [{ hits: 0 }],
    )
  })

  it('counts a wrong password once when the answer to its reservation is lost', async () => {
    const email = uniqueEmail('lost-failure')
    const userId = await registered(email, 'correct horse battery')
    const sourceIp = newSourceIp()
    const WRONG = { status: 401, body: { detail: 'Incorrect email or password' } }
    expect(await logIn(email, 'wrong horse battery', sourceIp)).toMatchObject(WRONG)

    const { result } = await withLostAnswer(STATEMENTS.begin, () =>
      logIn(email, 'wrong horse battery', sourceIp),
    )

    expect(result).toMatchObject(WRONG)
    expect(result.headers['www-authenticate']).toBe('Bearer')
    const [attempts] = await rows<{ failures: number; remembered: number }>(
      sql`select failures, cardinality(recent_attempts) as remembered from login_attempts where email = ${email}`,
    )
    expect(attempts).toEqual({ failures: 2, remembered: 2 })
    expect(await eventsOf(userId)).toEqual([
      { type: 'register' },
      { type: 'login_failure' },
      { type: 'login_failure' },
    ])
    expect(await rows(sql`select hits from rate_limits where key = ${`login-failures:${sourceIp}`}`)).toEqual(
      [{ hits: 2 }],
    )
  })

  it('still answers a reset request with 202, its mail job queued and its limits counted once', async () => {
    const email = uniqueEmail('lost-reset')
    const userId = await registered(email, 'correct horse battery')
    const sourceIp = newSourceIp()

    const { result } = await withLostAnswer(STATEMENTS.resetRequest, () =>
      invoke(requestReset, jsonEvent('/api/v1/auth/password-reset', { email }, { sourceIp })),
    )

    expect(result.status).toBe(202)
    await lambda.idle()
    expect(await rows(sql`select kind from mail_outbox where user_id = ${userId}`)).toEqual([
      { kind: 'password_reset' },
    ])
    expect(await eventsOf(userId)).toEqual([
      { type: 'register' },
      { type: 'password_reset_requested' },
      { type: 'password_reset_mail_sent' },
    ])
    const counted = await rows<{ key: string; hits: number }>(sql`
      select key, hits from rate_limits
      where key in (${`password-reset-ip:${sourceIp}`}, ${`password-reset-email:${resetEmailKey(email)}`})
      order by key`)
    expect(counted.map(({ hits }) => hits)).toEqual([1, 1])
    expect(await catcher.messages(email)).toHaveLength(1)
  })

  it('still answers a confirmed reset with 204: the password changed once, one notice queued', async () => {
    const email = uniqueEmail('lost-confirm')
    const userId = await registered(email, 'correct horse battery')
    const token = newResetToken()
    await database.db.execute(sql`
      insert into password_reset_tokens (user_id, token_hash, job_id, requested_at, expires_at)
      values (${userId}, ${hashResetToken(token)}, ${randomUUID()}, now(), now() + interval '30 minutes')`)

    const { result } = await withLostAnswer(STATEMENTS.resetComplete, () =>
      invoke(
        confirmReset,
        jsonEvent('/api/v1/auth/password-reset/confirm', { token, new_password: 'new horse battery' }),
      ),
    )

    expect(result.status).toBe(204)
    await lambda.idle()
    expect(await rows(sql`select kind from mail_outbox where user_id = ${userId}`)).toEqual([
      { kind: 'password_changed' },
    ])
    expect((await eventsOf(userId)).map(({ type }) => type)).toEqual([
      'register',
      'password_reset_completed',
      'password_changed_mail_sent',
    ])
    expect((await logIn(email, 'new horse battery')).status).toBe(200)
    expect(await rows(sql`select 1 from password_reset_tokens where user_id = ${userId}`)).toEqual([])
  })

  it('cuts the connection only for the armed statement: other requests pass untouched', async () => {
    const before = faults.drops.length
    faults.arm(`select '${randomUUID()}'`)
    const email = uniqueEmail('untouched')
    await registered(email, 'correct horse battery')
    expect((await logIn(email, 'correct horse battery')).status).toBe(200)
    expect(faults.armed).toBe(true)
    faults.disarm()
    expect(faults.drops).toHaveLength(before)
  })
})
