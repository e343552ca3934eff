/**
 * The account export (`GET /users/me/export`) over HTTP against the local stack as `npm start` builds it, with MailDev
 * catching the mail: two users, each with sessions and events, an administrator acting on both, and an email change
 * to the other's address; the export of one holds its own data in the documented shape, as a download, and nothing of
 * the other, of the administrator or of whether an address is someone's account; 401 for a caller without a live
 * session; and the bounds, past which it says what it left out.
 */
import { randomBytes } from 'node:crypto'
import { type IncomingHttpHeaders, request } from 'node:http'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormatsPlugin from 'ajv-formats'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DatabaseHandle } from '#db/client'
import { type LocalStack, startLocalStack } from '#infra/local/local-stack'
import { type MailCatcher, startMailCatcher } from '#infra/local/mail-catcher'
import { EXPORT_LIMITS, WITHHELD_EVENT_TYPES } from '#shared/domain/account-export'
import type { AccountExport } from '#shared/domain/contract'
import type { OpenApiDocument } from '#shared/http/openapi'
import { stackDatabase } from '#test/helpers/local-stack'

// ajv-formats is CommonJS whose types declare only a default export; under NodeNext that is the module object.
const addFormats = addFormatsPlugin as unknown as typeof addFormatsPlugin.default

interface Answer {
  status: number
  headers: IncomingHttpHeaders
  raw: string
  body: unknown
}

interface TokenPair {
  access_token: string
  refresh_token: string
}

/** Someone calling the API: from their own loopback address, with their own user agent. */
interface Party {
  from: string
  agent: string
}

const PASSWORD = 'correct horse battery'
const ADMIN_EMAIL = 'admin@example.com'
const ADMIN_PASSWORD = randomBytes(18).toString('base64url')
const tag = randomBytes(4).toString('hex')
const party = (host: number, name: string): Party => ({
  from: `127.0.9.${host}`,
  agent: `${name}-agent/${tag}`,
})
const ALICE = party(2, 'alice')
const BOB = party(3, 'bob')
const ADMIN = party(4, 'admin-console')
const STRANGER = party(5, 'stranger')

let stack: LocalStack
let catcher: MailCatcher
let port: number
let database: DatabaseHandle
let document: OpenApiDocument

beforeAll(async () => {
  catcher = await startMailCatcher()
  process.env.ADMIN_EMAIL = ADMIN_EMAIL
  process.env.ADMIN_PASSWORD = ADMIN_PASSWORD
  process.env.BCRYPT_COST = '10'
  stack = await startLocalStack({
    setup: 'functions',
    server: {},
    mail: {
      smtpUrl: catcher.smtpUrl,
      resetUrl: 'https://app.example.test/reset-password?token={token}',
      from: 'Past Questions <no-reply@example.test>',
    },
  })
  if (!stack.server) throw new Error('the stack serves no API')
  port = stack.server.port
  database = stackDatabase(stack)
  document = (await call(ALICE, 'GET', '/openapi.json')).body as OpenApiDocument
}, 120_000)

afterAll(async () => {
  await database?.close()
  await stack?.stop()
  await catcher?.stop()
})

/** An HTTP request from a party's address and agent, as their browser would send it. */
function call(
  who: Party,
  method: string,
  path: string,
  { body, token }: { body?: unknown; token?: string } = {},
): Promise<Answer> {
  const payload = body === undefined ? undefined : JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const outgoing = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: `/api/v1${path}`,
        localAddress: who.from,
        headers: {
          ...(payload ? { 'content-type': 'application/json' } : {}),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          'user-agent': who.agent,
        },
      },
      (response) => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8')
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            raw,
            body: raw ? JSON.parse(raw) : undefined,
          })
        })
      },
    )
    outgoing.on('error', reject)
    outgoing.end(payload)
  })
}

async function logIn(who: Party, email: string, password = PASSWORD): Promise<TokenPair> {
  const answer = await call(who, 'POST', '/auth/login', { body: { email, password } })
  expect(answer.status).toBe(200)
  return answer.body as TokenPair
}

/** The session an access token was issued in (its `sid`). */
const sessionOf = (token: string) =>
  (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sid: string }).sid

let accounts = 0
/** A registered account, its registration and logins from `who`. */
async function account(who: Party, name: string) {
  accounts += 1
  const email = `${name}.${tag}.${accounts}@example.com`
  const username = `${name}_${tag}_${accounts}`
  const registered = await call(who, 'POST', '/auth/register', {
    body: { email, password: PASSWORD, username },
  })
  expect(registered.status).toBe(201)
  return { id: (registered.body as { id: number }).id, email, username }
}

const exportOf = (who: Party, token?: string) => call(who, 'GET', '/users/me/export', { token })

/** The documented schema of a component, every object closed (no field the document does not name), as a validator. */
function documentedSchema(name: string) {
  const close = (schema: unknown): unknown => {
    if (Array.isArray(schema)) return schema.map(close)
    if (schema === null || typeof schema !== 'object') return schema
    const copy: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(schema)) {
      copy[key] =
        key === '$ref' ? String(value).replace('#/components/schemas/', 'openapi.json#/$defs/') : close(value)
    }
    if (copy.type === 'object' && copy.properties && copy.additionalProperties === undefined) {
      copy.additionalProperties = false
    }
    return copy
  }
  const ajv = new Ajv2020({ strict: true, allErrors: true })
  addFormats(ajv)
  ajv.addSchema({ $id: 'openapi.json', $defs: close(document.components.schemas) as object })
  return ajv.compile({ $ref: `openapi.json#/$defs/${name}` })
}

/** Every `[key, value]` of a JSON value, however deep. */
function* entries(value: unknown, key = ''): Generator<[string, unknown]> {
  if (Array.isArray(value)) for (const item of value) yield* entries(item, key)
  else if (value !== null && typeof value === 'object')
    for (const [name, inner] of Object.entries(value)) yield* entries(inner, name)
  else yield [key, value]
}

describe('the export of one’s account', () => {
  it('is a download of one’s own data in the documented shape, and nothing of another user or the administrator', async () => {
    const alice = await account(ALICE, 'alice')
    const bob = await account(BOB, 'bob')
    // Alice: a session logged out, a failed login of her own and one of a stranger's, two email changes asked for.
    const ended = await logIn(ALICE, alice.email)
    expect(
      (await call(ALICE, 'POST', '/auth/logout', { body: { refresh_token: ended.refresh_token } })).status,
    ).toBe(204)
    expect(
      (await call(ALICE, 'POST', '/auth/login', { body: { email: alice.email, password: 'wrong' } })).status,
    ).toBe(401)
    expect(
      (await call(STRANGER, 'POST', '/auth/login', { body: { email: alice.email, password: 'guess' } }))
        .status,
    ).toBe(401)
    const asking = await logIn(ALICE, alice.email)
    const freeAddress = `free.${tag}@example.com`
    for (const new_email of [bob.email, freeAddress]) {
      const asked = await call(ALICE, 'POST', '/users/me/email', {
        body: { new_email, current_password: PASSWORD },
        token: asking.access_token,
      })
      expect(asked.status).toBe(202)
    }
    // Bob: two sessions, a failed login.
    const bobSessions = [await logIn(BOB, bob.email), await logIn(BOB, bob.email)].map((pair) =>
      sessionOf(pair.access_token),
    )
    expect(
      (await call(BOB, 'POST', '/auth/login', { body: { email: bob.email, password: 'wrong' } })).status,
    ).toBe(401)
    // The administrator makes each a superuser and takes it back.
    const admin = await logIn(ADMIN, ADMIN_EMAIL, ADMIN_PASSWORD)
    const adminId = (
      (await call(ADMIN, 'GET', '/users/me', { token: admin.access_token })).body as { id: number }
    ).id
    for (const id of [alice.id, bob.id]) {
      for (const is_superuser of [true, false]) {
        const patched = await call(ADMIN, 'PATCH', `/admin/users/${id}`, {
          body: { is_superuser },
          token: admin.access_token,
        })
        expect(patched.status).toBe(200)
      }
    }
    await stack.lambda?.idle()
    // The change to the free address was recorded as Alice's (its request, its mail); the one to Bob's was not.
    const recorded = await database.db.execute<{ type: string }>(
      sql`select type from security_events where user_id = ${alice.id} and type like 'email_change%' order by id`,
    )
    expect(recorded.rows.map((row) => row.type)).toEqual(['email_change_requested', 'email_change_mail_sent'])

    const current = await logIn(ALICE, alice.email)
    const answer = await exportOf(ALICE, current.access_token)
    expect(answer.status).toBe(200)
    expect(answer.headers['content-type']).toBe('application/json')
    expect(answer.headers['cache-control']).toBe('no-store')
    const day = new Date().toISOString().slice(0, 10)
    expect(answer.headers['content-disposition']).toBe(
      `attachment; filename="account-export-${alice.id}-${day}.json"`,
    )
    const validate = documentedSchema('AccountExport')
    expect(validate(answer.body), JSON.stringify(validate.errors)).toBe(true)
    const exported = answer.body as AccountExport

    // Her account, as /users/me has it, and every session of hers, the current one marked.
    expect(exported.user).toEqual(
      (await call(ALICE, 'GET', '/users/me', { token: current.access_token })).body,
    )
    const stored = await database.db.execute<{ id: string }>(
      sql`select id from sessions where user_id = ${alice.id} order by created_at desc, id`,
    )
    expect(exported.sessions.map((session) => session.id)).toEqual(stored.rows.map((row) => row.id))
    expect(exported.sessions.filter((session) => session.current).map((session) => session.id)).toEqual([
      sessionOf(current.access_token),
    ])
    expect(exported.sessions.find((session) => session.id === sessionOf(ended.access_token))).toMatchObject({
      revoked_reason: 'logout',
      revoked_at: expect.any(String),
      source_ip: ALICE.from,
      user_agent: ALICE.agent,
    })

    // Her events, newest first, as stored, but the email change's.
    const events = await database.db.execute<{ type: string }>(
      sql`select type from security_events where user_id = ${alice.id} order by created_at desc, id desc`,
    )
    const withheld: readonly string[] = WITHHELD_EVENT_TYPES
    expect(exported.security_events.map((event) => event.type)).toEqual(
      events.rows.map((row) => row.type).filter((type) => !withheld.includes(type)),
    )
    expect(exported.security_events.map((event) => event.type)).toEqual(
      expect.arrayContaining(['register', 'login_success', 'login_failure', 'logout', 'admin_user_updated']),
    )
    expect(exported.security_events.filter((event) => event.type.startsWith('email_change'))).toEqual([])
    expect(exported.security_events.find((event) => event.type === 'register')).toEqual({
      type: 'register',
      created_at: expect.any(String),
      source_ip: ALICE.from,
      user_agent: ALICE.agent,
      email: alice.email,
      by_administrator: false,
      details: null,
    })
    // A failed login for her address is hers to see, wherever it came from.
    expect(exported.security_events.filter((event) => event.type === 'login_failure')).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ source_ip: STRANGER.from, user_agent: STRANGER.agent }),
      ]),
    )
    // What the administrator did, but not who or from where.
    expect(
      exported.security_events
        .filter((event) => event.type === 'admin_user_updated')
        .map(({ source_ip, user_agent, email, by_administrator, details }) => ({
          source_ip,
          user_agent,
          email,
          by_administrator,
          details,
        })),
    ).toEqual([
      {
        source_ip: null,
        user_agent: null,
        email: null,
        by_administrator: true,
        details: { is_superuser: [true, false] },
      },
      {
        source_ip: null,
        user_agent: null,
        email: null,
        by_administrator: true,
        details: { is_superuser: [false, true] },
      },
    ])

    // Nothing of Bob, of the administrator, or of the addresses she asked to move to, anywhere in the file.
    for (const foreign of [
      bob.email,
      bob.username,
      ...bobSessions,
      BOB.from,
      BOB.agent,
      ADMIN_EMAIL,
      ADMIN.from,
      ADMIN.agent,
      freeAddress,
    ]) {
      expect(answer.raw, foreign).not.toContain(foreign)
    }
    const ids = [...entries(exported)].filter(([key]) => /(^|_)id$/.test(key))
    const own = new Set<unknown>([alice.id, ...stored.rows.map((row) => row.id)])
    expect(ids.filter(([, value]) => !own.has(value))).toEqual([])
    expect(ids.map(([, value]) => value)).not.toContain(bob.id)
    expect(ids.map(([, value]) => value)).not.toContain(adminId)
  })

  it('answers 401 without a token, and with the token of a session that has ended', async () => {
    const alice = await account(ALICE, 'gone')
    expect(await exportOf(ALICE)).toMatchObject({ status: 401, body: { detail: 'Not authenticated' } })
    const pair = await logIn(ALICE, alice.email)
    expect((await exportOf(ALICE, pair.access_token)).status).toBe(200)
    expect(
      (await call(ALICE, 'POST', '/auth/logout', { body: { refresh_token: pair.refresh_token } })).status,
    ).toBe(204)
    const refused = await exportOf(ALICE, pair.access_token)
    expect(refused).toMatchObject({ status: 401, body: { detail: 'Could not validate credentials' } })
    expect(refused.headers['www-authenticate']).toBe('Bearer error="invalid_token"')
  })

  it('holds the newest sessions and events up to its limits, and says it left older ones out', async () => {
    const busy = await account(ALICE, 'busy')
    const pair = await logIn(ALICE, busy.email)
    // More of each than an export holds, older than the real ones, each of a second of its own.
    await database.db.execute(sql`
      insert into security_events (type, user_id, email, source_ip, user_agent, created_at)
      select 'refresh', ${busy.id}, null, '192.0.2.1', 'old-agent', now() - make_interval(secs => n)
      from generate_series(1, ${EXPORT_LIMITS.securityEvents + 10}) n`)
    await database.db.execute(sql`
      insert into sessions (id, user_id, created_at, last_used_at, source_ip, user_agent, revoked_at, revoked_reason,
        expires_at)
      select gen_random_uuid(), ${busy.id}, now() - make_interval(secs => n), now() - make_interval(secs => n),
        '192.0.2.1', 'old-agent', now() - make_interval(secs => n), 'logout', now() - make_interval(secs => n)
      from generate_series(1, ${EXPORT_LIMITS.sessions}) n`)

    const answer = await exportOf(ALICE, pair.access_token)
    expect(answer.status).toBe(200)
    const exported = answer.body as AccountExport
    expect(exported.limits).toEqual({
      sessions: EXPORT_LIMITS.sessions,
      security_events: EXPORT_LIMITS.securityEvents,
    })
    expect(exported.truncated).toEqual({ sessions: true, security_events: true })
    expect(exported.sessions).toHaveLength(EXPORT_LIMITS.sessions)
    expect(exported.security_events).toHaveLength(EXPORT_LIMITS.securityEvents)
    // The newest: the real session and events first, then the inserted ones from the most recent down.
    expect(exported.sessions[0]).toMatchObject({ id: sessionOf(pair.access_token), current: true })
    expect(exported.security_events.slice(0, 2).map((event) => event.type)).toEqual([
      'login_success',
      'register',
    ])
    const times = exported.security_events.map((event) => Date.parse(event.created_at))
    expect(times).toEqual([...times].sort((a, b) => b - a))
    const oldestKept = await database.db.execute<{ created_at: string }>(sql`
      select created_at::text from security_events where user_id = ${busy.id}
      order by created_at desc, id desc offset ${EXPORT_LIMITS.securityEvents - 1} limit 1`)
    expect(Date.parse(exported.security_events.at(-1)?.created_at ?? '')).toBe(
      Date.parse(oldestKept.rows[0]?.created_at ?? ''),
    )
    const validate = documentedSchema('AccountExport')
    expect(validate(answer.body), JSON.stringify(validate.errors)).toBe(true)
  })
})
