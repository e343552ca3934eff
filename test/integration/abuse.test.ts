import { createHash } from 'node:crypto'
import bcrypt from 'bcryptjs'
import { eq, sql } from 'drizzle-orm'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { loginAttempts, securityEvents, users } from '#db/schema'
import { handler as login } from '#functions/login'
import { handler as logout } from '#functions/logout'
import { handler as refresh } from '#functions/refresh'
import { handler as register } from '#functions/register'
import { handler as token } from '#functions/token'
import { testDatabase } from '#test/helpers/database'
import { formEvent, invoke, jsonEvent, uniqueEmail } from '#test/helpers/events'
import { registeredUser, type TokenPairBody } from '#test/helpers/users'

const LOGIN = '/api/v1/auth/login'
const TOKEN = '/api/v1/auth/token'
const REGISTER = '/api/v1/auth/register'
const database = testDatabase()
afterAll(() => database.close())
afterEach(() => vi.restoreAllMocks())

const LOCKED = { status: 429, body: { detail: 'Too many failed login attempts' } }
const loginWith = (email: string, password: string) => invoke(login, jsonEvent(LOGIN, { email, password }))
const tokenWith = (email: string, password: string) =>
  invoke(token, formEvent(TOKEN, { username: email, password }))

async function fail(times: number, email: string, via: 'login' | 'token' = 'login') {
  for (let attempt = 0; attempt < times; attempt++) {
    const response = await (via === 'login'
      ? loginWith(email, 'wrong password')
      : tokenWith(email, 'wrong password'))
    expect(response.status).toBe(via === 'login' ? 401 : 400)
  }
}

describe('the failed-login limit', () => {
  it('answers 429 with Retry-After after 10 consecutive failures, even to the right password, on login and token', async () => {
    const user = await registeredUser()
    await fail(10, user.email)
    const locked = await loginWith(user.email, user.password)
    expect(locked).toMatchObject(LOCKED)
    const retryAfter = Number(locked.headers['retry-after'])
    expect(retryAfter).toBeGreaterThan(0)
    expect(retryAfter).toBeLessThanOrEqual(900)
    const viaToken = await tokenWith(user.email.toUpperCase(), user.password)
    expect(viaToken).toMatchObject(LOCKED)
    expect(Number(viaToken.headers['retry-after'])).toBeGreaterThan(0)
  })

  it('counts unknown emails too, per canonical email', async () => {
    const email = uniqueEmail('ghost')
    await fail(10, `  ${email.toUpperCase()} `.trim())
    expect(await loginWith(email, 'any password')).toMatchObject(LOCKED)
  })

  it('shares one counter between login and token', async () => {
    const user = await registeredUser()
    await fail(5, user.email, 'login')
    await fail(5, user.email, 'token')
    expect(await loginWith(user.email, user.password)).toMatchObject(LOCKED)
  })

  it('counts only consecutive failures: a successful login resets the count', async () => {
    const user = await registeredUser()
    await fail(9, user.email)
    expect((await loginWith(user.email, user.password)).status).toBe(200)
    await fail(9, user.email)
    expect((await loginWith(user.email, user.password)).status).toBe(200)
  })

  it('lets the right password in once the window has passed, and that login clears the record', async () => {
    const user = await registeredUser()
    await fail(10, user.email)
    expect(await loginWith(user.email, user.password)).toMatchObject(LOCKED)
    // Fifteen minutes pass.
    await database.db
      .update(loginAttempts)
      .set({
        windowStartedAt: sql`${loginAttempts.windowStartedAt} - interval '16 minutes'`,
        lockedUntil: sql`${loginAttempts.lockedUntil} - interval '16 minutes'`,
      })
      .where(eq(loginAttempts.email, user.email))
    expect((await loginWith(user.email, user.password)).status).toBe(200)
    expect(await database.db.select().from(loginAttempts).where(eq(loginAttempts.email, user.email))).toEqual(
      [],
    )
  })

  it('starts counting over when failures are more than 15 minutes apart', async () => {
    const user = await registeredUser()
    await fail(9, user.email)
    await database.db
      .update(loginAttempts)
      .set({ windowStartedAt: sql`${loginAttempts.windowStartedAt} - interval '16 minutes'` })
      .where(eq(loginAttempts.email, user.email))
    await fail(9, user.email)
    expect((await loginWith(user.email, user.password)).status).toBe(200)
  })

  it('ignores X-Forwarded-For, and locks by email whatever the source', async () => {
    const user = await registeredUser()
    for (let attempt = 0; attempt < 10; attempt++) {
      const event = jsonEvent(
        LOGIN,
        { email: user.email, password: 'wrong password' },
        { headers: { 'x-forwarded-for': `10.0.0.${attempt}` } },
      )
      expect((await invoke(login, event)).status).toBe(401)
    }
    expect(await loginWith(user.email, user.password)).toMatchObject(LOCKED)
  })

  it('holds across concurrent failures: 20 at once lock the email, none answers 5xx', async () => {
    const user = await registeredUser()
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => loginWith(user.email, 'wrong password')),
    )
    expect(responses.every((response) => response.status === 401 || response.status === 429)).toBe(true)
    expect(await loginWith(user.email, user.password)).toMatchObject(LOCKED)
  })
})

describe('the registration limit per source IP', () => {
  it('answers 429 with Retry-After past 20 registrations from one address, whatever X-Forwarded-For says', async () => {
    const sourceIp = '198.51.100.23'
    for (let attempt = 0; attempt < 20; attempt++) {
      const event = jsonEvent(REGISTER, { email: uniqueEmail('ip'), password: 'correct horse' }, { sourceIp })
      expect((await invoke(register, event)).status).toBe(201)
    }
    const refusedEmail = uniqueEmail('ip')
    const spoofed = jsonEvent(
      REGISTER,
      { email: refusedEmail, password: 'correct horse' },
      {
        sourceIp,
        headers: { 'x-forwarded-for': '192.0.2.1' },
      },
    )
    // The real bcryptjs, watched: a refusal is decided before the password is hashed.
    const hash = vi.spyOn(bcrypt, 'hash')
    const limited = await invoke(register, spoofed)
    expect(limited).toMatchObject({
      status: 429,
      body: { detail: 'Too many registrations from this address' },
    })
    expect(hash).not.toHaveBeenCalled()
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
    const [row] = await database.db.select().from(users).where(eq(users.email, refusedEmail))
    expect(row).toBeUndefined()

    const elsewhere = await invoke(
      register,
      jsonEvent(
        REGISTER,
        { email: uniqueEmail('ip'), password: 'correct horse' },
        { sourceIp: '198.51.100.24' },
      ),
    )
    expect(elsewhere.status).toBe(201)
  }, 120_000)

  it('counts registrations refused for a taken username: 20 probes from one address, then 429 unhashed', async () => {
    const taken = `probed_${Date.now().toString(36)}`
    const holder = jsonEvent(
      REGISTER,
      { email: uniqueEmail('holder'), password: 'correct horse', username: taken },
      { sourceIp: '198.51.100.27' },
    )
    expect((await invoke(register, holder)).status).toBe(201)
    const prober = '198.51.100.28'
    const probe = () =>
      invoke(
        register,
        jsonEvent(
          REGISTER,
          { email: uniqueEmail('probe'), password: 'correct horse', username: taken.toUpperCase() },
          { sourceIp: prober },
        ),
      )
    for (let attempt = 0; attempt < 20; attempt++) {
      expect(await probe()).toMatchObject({
        status: 400,
        body: { detail: 'User with this username already exists' },
      })
    }
    const hash = vi.spyOn(bcrypt, 'hash')
    const limited = await probe()
    expect(limited).toMatchObject({
      status: 429,
      body: { detail: 'Too many registrations from this address' },
    })
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
    expect(hash).not.toHaveBeenCalled()
  }, 120_000)

  it('gives exactly one account for parallel registrations of case and whitespace variants of one email', async () => {
    const email = uniqueEmail('variant')
    const variants = [
      email,
      email.toUpperCase(),
      ` ${email} `,
      `\t${email.toUpperCase()}`,
      email.replace(/^./, (c) => c.toUpperCase()),
    ]
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, index) =>
        invoke(
          register,
          jsonEvent(REGISTER, { email: variants[index % variants.length], password: 'correct horse' }),
          { timeoutMs: 120_000 },
        ),
      ),
    )
    const statuses = responses.map((response) => response.status)
    expect(statuses.filter((status) => status === 201)).toHaveLength(1)
    expect(statuses.filter((status) => status === 400)).toHaveLength(19)
    expect(await database.db.select().from(users).where(eq(users.email, email))).toHaveLength(1)
  }, 120_000)
})

describe('the audit trail', () => {
  const eventsOf = (email: string) =>
    database.db
      .select()
      .from(securityEvents)
      .where(
        sql`${securityEvents.email} = ${email} or ${securityEvents.userId} = (select id from ${users} where email = ${email})`,
      )
      .orderBy(securityEvents.id)

  it('records register, login success and failure, lockout, refresh, reuse and logout, with who and where, and no secret', async () => {
    const email = uniqueEmail('audited')
    const password = 'audited password'
    const headers = { 'user-agent': 'audit-test/1.0' }
    const sourceIp = '198.51.100.9'
    const options = { headers, sourceIp }
    expect((await invoke(register, jsonEvent(REGISTER, { email, password }, options))).status).toBe(201)
    const pair = (await invoke(login, jsonEvent(LOGIN, { email, password }, options))).body as TokenPairBody
    const next = (
      await invoke(refresh, jsonEvent('/api/v1/auth/refresh', { refresh_token: pair.refresh_token }, options))
    ).body as TokenPairBody
    // Replayed past the reuse interval (REFRESH_TOKEN_REUSE_INTERVAL_SECONDS, 10 s), as far as the row knows.
    await database.db.execute(
      sql`update refresh_tokens set retired_at = retired_at - interval '1 minute' where retired_at is not null
          and session_id in (select s.id from sessions s join users u on u.id = s.user_id where u.email = ${email})`,
    )
    expect(
      (
        await invoke(
          refresh,
          jsonEvent('/api/v1/auth/refresh', { refresh_token: pair.refresh_token }, options),
        )
      ).status,
    ).toBe(401)
    expect(
      (await invoke(logout, jsonEvent('/api/v1/auth/logout', { refresh_token: next.refresh_token }, options)))
        .status,
    ).toBe(204)
    for (let attempt = 0; attempt < 10; attempt++)
      await invoke(login, jsonEvent(LOGIN, { email, password: 'wrong password' }, options))

    const events = await eventsOf(email)
    const types = events.map((event) => event.type)
    expect(types.slice(0, 14)).toEqual([
      'register',
      'login_success',
      'refresh',
      'refresh_reuse_detected',
      'logout',
      ...Array.from({ length: 9 }, () => 'login_failure'),
    ])
    // The tenth failure and the lockout are written by one statement, whose CTEs run in no set order.
    expect(types.slice(14).sort()).toEqual(['lockout', 'login_failure'])
    const [user] = await database.db.select().from(users).where(eq(users.email, email))
    for (const event of events) {
      expect(event).toMatchObject({
        userId: user?.id,
        sourceIp,
        userAgent: 'audit-test/1.0',
        createdAt: expect.any(Date),
      })
    }
    const stored = JSON.stringify(events)
    for (const secret of [
      password,
      'wrong password',
      pair.refresh_token,
      pair.access_token,
      next.refresh_token,
      user?.hashedPassword ?? '',
    ]) {
      expect(stored).not.toContain(secret)
    }
  })

  it("records failures for unknown emails with no user id, and the email's SHA-256 only", async () => {
    const email = uniqueEmail('nobody')
    await invoke(login, jsonEvent(LOGIN, { email, password: 'whatever it is' }))
    const digest = `sha256:${createHash('sha256').update(email).digest('hex')}`
    expect(await eventsOf(digest)).toMatchObject([{ type: 'login_failure', userId: null, email: digest }])
    expect(await eventsOf(email)).toEqual([])
  })
})
