/**
 * The admin API from outside, over HTTP, against the local stack as `npm start` builds it (seed-admin's superuser,
 * MailDev catching the mail): who may call it, the list and its cursor, search, deactivation and what it ends at
 * once, reactivation, the last active superuser kept under concurrent demotions, ending sessions, a reset mailed, the
 * audit trail, and the recent-login rule.
 */
import { randomBytes } from 'node:crypto'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DatabaseHandle } from '#db/client'
import { type LocalStack, startLocalStack } from '#infra/local/local-stack'
import { type MailCatcher, startMailCatcher } from '#infra/local/mail-catcher'
import { stackDatabase } from '#test/helpers/local-stack'

interface TokenPair {
  access_token: string
  refresh_token: string
}

interface User {
  id: number
  email: string
  username: string | null
  is_active: boolean
  is_superuser: boolean
}

interface Page {
  items: User[]
  next_cursor: string | null
}

const PASSWORD = 'correct horse battery'
const ADMIN_EMAIL = 'admin@example.com'
const ADMIN_PASSWORD = randomBytes(18).toString('base64url')
const RESET_URL = 'https://app.example.test/reset-password?token={token}'
const FORBIDDEN = { status: 403, body: { detail: "The user doesn't have enough privileges" } }
const INVALID = { status: 401, body: { detail: 'Could not validate credentials' } }
const LAST_SUPERUSER = {
  status: 409,
  body: { detail: 'The service must keep at least one active superuser' },
}

let stack: LocalStack
let catcher: MailCatcher
let api: string
let database: DatabaseHandle
let admin: string
/** The seeded superuser's id: the actor of the audit events. */
let adminId: number

beforeAll(async () => {
  catcher = await startMailCatcher()
  process.env.ADMIN_EMAIL = ADMIN_EMAIL
  process.env.ADMIN_PASSWORD = ADMIN_PASSWORD
  process.env.BCRYPT_COST = '10'
  process.env.REGISTER_RATE_LIMIT = '1000'
  stack = await startLocalStack({
    setup: 'functions',
    server: {},
    mail: { smtpUrl: catcher.smtpUrl, resetUrl: RESET_URL, from: 'Past Questions <no-reply@example.test>' },
  })
  if (!stack.server) throw new Error('the stack serves no API')
  api = `${stack.server.url}/api/v1`
  database = stackDatabase(stack)
  admin = (await logIn(ADMIN_EMAIL, ADMIN_PASSWORD)).access_token
  adminId = ((await send('GET', '/users/me', { token: admin })).body as User).id
}, 120_000)

afterAll(async () => {
  await database?.close()
  await stack?.stop()
  await catcher?.stop()
})

async function send(method: string, path: string, { token, body }: { token?: string; body?: unknown } = {}) {
  const response = await fetch(`${api}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await response.text()
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined }
}

async function logIn(email: string, password = PASSWORD): Promise<TokenPair> {
  const answer = await send('POST', '/auth/login', { body: { email, password } })
  expect(answer.status).toBe(200)
  return answer.body as TokenPair
}

let accounts = 0
/** A registered account under `prefix` (its email and username start with it), logged in. */
async function account(prefix = `acct${randomBytes(3).toString('hex')}`) {
  accounts += 1
  const email = `${prefix}.${accounts}@example.com`
  const registered = await send('POST', '/auth/register', {
    body: { email, password: PASSWORD, username: `${prefix}_${accounts}` },
  })
  expect(registered.status).toBe(201)
  return { user: registered.body as User, pair: await logIn(email) }
}

const events = async (userId: number) =>
  (
    await database.db.execute<{ type: string; actor_id: number | null; details: unknown }>(
      sql`select type, actor_id, details from security_events where user_id = ${userId} and type like 'admin_%'
          order by id`,
    )
  ).rows

describe('who may call the admin API', () => {
  const routes = (id: number): [string, string, unknown?][] => [
    ['GET', '/admin/users'],
    ['GET', `/admin/users/${id}`],
    ['PATCH', `/admin/users/${id}`, { is_active: false }],
    ['DELETE', `/admin/users/${id}/sessions`],
    ['POST', `/admin/users/${id}/password-reset`],
  ]

  it('answers 403 to a plain user and 401 without a token on every admin route, changing nothing', async () => {
    const { user, pair } = await account()
    for (const [method, path, body] of routes(user.id)) {
      expect(await send(method, path, { token: pair.access_token, body }), `${method} ${path}`).toMatchObject(
        FORBIDDEN,
      )
      expect((await send(method, path, { body })).status, `${method} ${path}`).toBe(401)
    }
    expect((await send('GET', '/users/me', { token: pair.access_token })).status).toBe(200)
  })

  it('asks a superuser for a recent login: 401 insufficient_user_authentication with max_age past an hour', async () => {
    const { user } = await account()
    await database.db.execute(sql`update users set is_superuser = true where id = ${user.id}`)
    const pair = await logIn(user.email)
    expect((await send('GET', `/admin/users/${user.id}`, { token: pair.access_token })).status).toBe(200)
    // The session's login two hours ago; its refreshed access token carries that auth_time.
    await database.db.execute(
      sql`update sessions set created_at = now() - interval '2 hours' where user_id = ${user.id}`,
    )
    const refreshed = (await send('POST', '/auth/refresh', { body: { refresh_token: pair.refresh_token } }))
      .body as TokenPair
    const stale = await send('GET', `/admin/users/${user.id}`, { token: refreshed.access_token })
    expect(stale).toMatchObject({ status: 401, body: { detail: 'A more recent login is required' } })
    expect(stale.headers.get('www-authenticate')).toBe(
      'Bearer error="insufficient_user_authentication", error_description="A more recent login is required", max_age="3600"',
    )
    expect((await send('GET', '/users/me', { token: refreshed.access_token })).status).toBe(200)
    await database.db.execute(sql`update users set is_superuser = false where id = ${user.id}`)
  })

  it('validates the path: 422 for an id that is not a whole number, 404 for an unknown one', async () => {
    for (const id of ['abc', '1.5', '-3', '0', '99999999999'])
      expect((await send('GET', `/admin/users/${id}`, { token: admin })).status, id).toBe(422)
    expect(await send('GET', '/admin/users/2147483000', { token: admin })).toMatchObject({
      status: 404,
      body: { detail: 'User not found' },
    })
    expect(
      (await send('PATCH', '/admin/users/2147483000', { token: admin, body: { is_active: false } })).status,
    ).toBe(404)
  })
})

describe('finding accounts', () => {
  it('pages through more accounts than a page, newest first, with a cursor that survives a deletion', async () => {
    const prefix = `page${randomBytes(3).toString('hex')}`
    const made: User[] = []
    for (let i = 0; i < 7; i++) made.push((await account(prefix)).user)
    const newestFirst = made.map((user) => user.id).reverse()

    const first = (await send('GET', `/admin/users?q=${prefix}&limit=3`, { token: admin })).body as Page
    expect(first.items.map((user) => user.id)).toEqual(newestFirst.slice(0, 3))
    expect(first.next_cursor).toEqual(expect.any(String))
    // One account of the next page goes, and a new one arrives, between two pages.
    expect((await send('DELETE', `/admin/users/${newestFirst[4]}`, { token: admin })).status).toBe(204)
    await account(prefix)

    const second = (
      await send('GET', `/admin/users?q=${prefix}&limit=3&cursor=${first.next_cursor}`, { token: admin })
    ).body as Page
    expect(second.items.map((user) => user.id)).toEqual([newestFirst[3], newestFirst[5], newestFirst[6]])
    expect(second.next_cursor).toBeNull()
  })

  it('matches the start of an email or a username, without regard to case, and filters by the flags', async () => {
    const prefix = `find${randomBytes(3).toString('hex')}`
    const { user } = await account(prefix)
    const byEmail = (await send('GET', `/admin/users?q=${prefix.toUpperCase()}.`, { token: admin }))
      .body as Page
    expect(byEmail.items.map((found) => found.id)).toEqual([user.id])
    const byUsername = (await send('GET', `/admin/users?q=${prefix}_`, { token: admin })).body as Page
    expect(byUsername.items.map((found) => found.id)).toEqual([user.id])
    // `_` and `%` match only themselves.
    expect(((await send('GET', `/admin/users?q=${prefix}%25`, { token: admin })).body as Page).items).toEqual(
      [],
    )
    const supers = (await send('GET', '/admin/users?is_superuser=true', { token: admin })).body as Page
    expect(supers.items.every((found) => found.is_superuser)).toBe(true)
    expect(supers.items.map((found) => found.email)).toContain(ADMIN_EMAIL)
    const single = (await send('GET', `/admin/users/${user.id}`, { token: admin })).body as User
    expect(single).toMatchObject({ id: user.id, email: user.email, is_active: true, is_superuser: false })
    expect(single).not.toHaveProperty('hashed_password')
  })

  it('answers 422 for a bad limit, flag or cursor', async () => {
    for (const query of ['limit=0', 'limit=201', 'limit=ten', 'is_active=yes', 'cursor=nope!', 'cursor=dTA'])
      expect((await send('GET', `/admin/users?${query}`, { token: admin })).status, query).toBe(422)
  })
})

describe('acting on an account', () => {
  it('deactivates at once (refresh and /users/me refused), reactivates without restoring anything', async () => {
    const { user, pair } = await account()
    const other = await logIn(user.email)
    const answer = await send('PATCH', `/admin/users/${user.id}`, {
      token: admin,
      body: { is_active: false },
    })
    expect(answer).toMatchObject({ status: 200, body: { id: user.id, is_active: false } })

    expect(await send('GET', '/users/me', { token: pair.access_token })).toMatchObject(INVALID)
    expect(
      await send('POST', '/auth/refresh', { body: { refresh_token: other.refresh_token } }),
    ).toMatchObject(INVALID)
    expect(
      (await send('POST', '/auth/login', { body: { email: user.email, password: PASSWORD } })).status,
    ).toBe(401)

    expect(
      (await send('PATCH', `/admin/users/${user.id}`, { token: admin, body: { is_active: true } })).body,
    ).toMatchObject({ is_active: true })
    expect(await send('GET', '/users/me', { token: pair.access_token })).toMatchObject(INVALID)
    expect(
      await send('POST', '/auth/refresh', { body: { refresh_token: pair.refresh_token } }),
    ).toMatchObject(INVALID)
    const again = await logIn(user.email)
    expect((await send('GET', '/users/me', { token: again.access_token })).status).toBe(200)

    expect(await events(user.id)).toEqual([
      {
        type: 'admin_user_updated',
        actor_id: adminId,
        details: { is_active: [true, false], sessions_ended: 2 },
      },
      { type: 'admin_user_updated', actor_id: adminId, details: { is_active: [false, true] } },
    ])
  })

  it('promotes and demotes; a body with nothing to change, or anything else, is a 422', async () => {
    const { user } = await account()
    for (const body of [{}, { email: 'x@example.com' }, { is_active: 'no' }])
      expect((await send('PATCH', `/admin/users/${user.id}`, { token: admin, body })).status).toBe(422)
    expect(
      (await send('PATCH', `/admin/users/${user.id}`, { token: admin, body: { is_superuser: true } })).body,
    ).toMatchObject({ is_superuser: true })
    expect(
      (await send('PATCH', `/admin/users/${user.id}`, { token: admin, body: { is_superuser: false } })).body,
    ).toMatchObject({ is_superuser: false })
    expect((await events(user.id)).map((event) => event.details)).toEqual([
      { is_superuser: [false, true] },
      { is_superuser: [true, false] },
    ])
  })

  it('ends every session of an account: its tokens refused at once, a new login works', async () => {
    const { user, pair } = await account()
    expect((await send('DELETE', `/admin/users/${user.id}/sessions`, { token: admin })).status).toBe(204)
    expect(await send('GET', '/users/me', { token: pair.access_token })).toMatchObject(INVALID)
    expect(
      await send('POST', '/auth/refresh', { body: { refresh_token: pair.refresh_token } }),
    ).toMatchObject(INVALID)
    expect((await send('GET', '/users/me', { token: (await logIn(user.email)).access_token })).status).toBe(
      200,
    )
    expect(await events(user.id)).toEqual([
      { type: 'admin_sessions_ended', actor_id: adminId, details: { sessions_ended: 1 } },
    ])
  })

  it('mails the account a reset link that works, as the public request does', async () => {
    const { user } = await account()
    expect((await send('POST', `/admin/users/${user.id}/password-reset`, { token: admin })).status).toBe(202)
    await stack.lambda?.idle()
    const mail = await catcher.waitFor(user.email, () => true)
    const token = /token=([A-Za-z0-9_-]+)/.exec(mail.text ?? '')?.[1]
    expect(token).toEqual(expect.any(String))
    const confirmed = await send('POST', '/auth/password-reset/confirm', {
      body: { token, new_password: 'a brand new password 4' },
    })
    expect(confirmed.status).toBe(204)
    expect(
      (await send('POST', '/auth/login', { body: { email: user.email, password: 'a brand new password 4' } }))
        .status,
    ).toBe(200)
    expect((await events(user.id)).map((event) => event.type)).toEqual(['admin_password_reset_requested'])
  })
})

describe('deleting an account', () => {
  it('erases it at once: tokens refused, the email free for a new account with a new id, a notice mailed', async () => {
    const { user, pair } = await account()
    await send('POST', '/auth/login', { body: { email: user.email, password: 'a wrong password' } })
    expect((await send('DELETE', `/admin/users/${user.id}`, { token: admin })).status).toBe(204)
    // Nothing of the account is left but its audit events.
    const leftovers = await database.db.execute(
      sql`select 1 from sessions where user_id = ${user.id}
          union all select 1 from login_attempts where email = ${user.email}
          union all select 1 from mail_outbox where user_id = ${user.id}`,
    )
    expect(leftovers.rows).toEqual([])

    expect(await send('GET', '/users/me', { token: pair.access_token })).toMatchObject(INVALID)
    expect(
      await send('POST', '/auth/refresh', { body: { refresh_token: pair.refresh_token } }),
    ).toMatchObject(INVALID)
    expect(
      (await send('POST', '/auth/login', { body: { email: user.email, password: PASSWORD } })).status,
    ).toBe(401)
    expect((await send('GET', `/admin/users/${user.id}`, { token: admin })).status).toBe(404)
    expect((await send('DELETE', `/admin/users/${user.id}`, { token: admin })).status).toBe(404)

    await stack.lambda?.idle()
    const notice = await catcher.waitFor(user.email, (mail) => mail.subject.includes('deleted'))
    expect(notice.subject).toContain('account was deleted')

    const again = await send('POST', '/auth/register', { body: { email: user.email, password: PASSWORD } })
    expect(again.status).toBe(201)
    expect((again.body as User).id).not.toBe(user.id)

    // The audit trail keeps the id and what happened, never the address.
    const rows = (
      await database.db.execute<{ type: string; email: string | null; actor_id: number | null }>(
        sql`select type, email, actor_id from security_events where user_id = ${user.id} order by id`,
      )
    ).rows
    expect(rows.map((row) => row.type)).toEqual(expect.arrayContaining(['register', 'account_deleted']))
    expect(rows.every((row) => row.email === null)).toBe(true)
    expect(rows.filter((row) => row.type === 'account_deleted')).toEqual([
      { type: 'account_deleted', email: null, actor_id: adminId },
    ])
  })

  it('refuses to delete the last active superuser (409)', async () => {
    const others = await database.db.execute<{ id: number }>(
      sql`select id from users where is_superuser and is_active and id <> ${adminId}`,
    )
    await database.db.execute(
      sql`update users set is_superuser = false where is_superuser and id <> ${adminId}`,
    )
    expect(await send('DELETE', `/admin/users/${adminId}`, { token: admin })).toMatchObject(LAST_SUPERUSER)
    for (const { id } of others.rows)
      await database.db.execute(sql`update users set is_superuser = true where id = ${id}`)
  })
})

describe('the last active superuser', () => {
  it('survives two superusers demoting each other at the same moment: exactly one is left', async () => {
    const first = await account()
    const second = await account()
    await database.db.execute(
      sql`update users set is_superuser = true where id in (${first.user.id}, ${second.user.id})`,
    )
    // The seeded admin steps down, so these two are the last ones.
    const firstToken = (await logIn(first.user.email)).access_token
    const secondToken = (await logIn(second.user.email)).access_token
    expect(
      (await send('PATCH', `/admin/users/${adminId}`, { token: firstToken, body: { is_superuser: false } }))
        .status,
    ).toBe(200)

    for (let trial = 0; trial < 5; trial++) {
      const answers = await Promise.all([
        send('PATCH', `/admin/users/${second.user.id}`, { token: firstToken, body: { is_superuser: false } }),
        send('PATCH', `/admin/users/${first.user.id}`, { token: secondToken, body: { is_superuser: false } }),
      ])
      const statuses = answers.map((answer) => answer.status).sort()
      const left = await database.db.execute<{ id: number }>(
        sql`select id from users where is_superuser and is_active`,
      )
      expect(left.rows, `trial ${trial}`).toHaveLength(1)
      // One demotion went through (200) and the other was refused: 409 the last one, or 403 once its caller lost it.
      expect(statuses[0], `trial ${trial}`).toBe(200)
      expect([403, 409], `trial ${trial}`).toContain(statuses[1])
      await database.db.execute(
        sql`update users set is_superuser = true where id in (${first.user.id}, ${second.user.id})`,
      )
    }
    const lastOne = await send('PATCH', `/admin/users/${first.user.id}`, {
      token: firstToken,
      body: { is_superuser: false },
    })
    expect(lastOne.status).toBe(200)
    expect(
      await send('PATCH', `/admin/users/${second.user.id}`, {
        token: secondToken,
        body: { is_active: false },
      }),
    ).toMatchObject(LAST_SUPERUSER)
    // Hand the role back to the seeded admin for the other cases.
    await database.db.execute(sql`update users set is_superuser = true where id = ${adminId}`)
    admin = (await logIn(ADMIN_EMAIL, ADMIN_PASSWORD)).access_token
  })
})
