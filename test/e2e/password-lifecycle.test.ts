/**
 * The password lifecycle from outside, over HTTP, against the local stack as `npm start` builds it, with a real SMTP
 * server (MailDev) catching the mail the send-mail function sends through the local Lambda: a forgotten password
 * reset by email, the links' rules (single use, newest only, expiry), the answers that say nothing about an account,
 * the limits; a password change; the sessions a user sees and ends.
 */
import { randomBytes } from 'node:crypto'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DatabaseHandle } from '#db/client'
import { type LocalStack, startLocalStack } from '#infra/local/local-stack'
import { type MailCatcher, startMailCatcher } from '#infra/local/mail-catcher'
import { uniqueEmail } from '#test/helpers/events'
import { stackDatabase } from '#test/helpers/local-stack'
import { type Answer, loopbackClient } from '#test/helpers/loopback-client'

interface TokenPair {
  access_token: string
  refresh_token: string
}

const EMAIL_LIMIT = 3
const IP_LIMIT = 6
const MAX_FAILURES = 10
const RESET_URL = 'https://app.example.test/reset-password?token={token}'
const ACCEPTED = {
  status: 202,
  body: { detail: 'If an account with this email exists, a link to reset its password has been sent.' },
}
const DEAD_LINK = { status: 400, body: { detail: 'Invalid or expired password reset token' } }
const INVALID = { status: 401, body: { detail: 'Could not validate credentials' } }
const WRONG_LOGIN = { status: 401, body: { detail: 'Incorrect email or password' } }

let stack: LocalStack
let catcher: MailCatcher
let port: number
/** The cluster's superuser on the service's database: to look at rows and to age a link. */
let database: DatabaseHandle

const { call, newAddress } = loopbackClient(() => port, 'password-lifecycle-test')

const register = async (email: string, password: string) => {
  const answer = await call('POST', '/auth/register', { body: { email, password }, from: newAddress() })
  expect(answer.status).toBe(201)
}
const logIn = (email: string, password: string) =>
  call('POST', '/auth/login', { body: { email, password }, from: newAddress() })
const session = async (email: string, password: string) => {
  const answer = await logIn(email, password)
  expect(answer.status).toBe(200)
  return answer.body as TokenPair
}
const requestReset = (email: string, from: string) =>
  call('POST', '/auth/password-reset', { body: { email }, from })
const confirm = (token: string, new_password: string) =>
  call('POST', '/auth/password-reset/confirm', { body: { token, new_password } })
const refresh = (refreshToken: string) =>
  call('POST', '/auth/refresh', { body: { refresh_token: refreshToken } })

const LINK = /https:\/\/app\.example\.test\/reset-password\?token=([A-Za-z0-9_-]+)/

/** The reset mails to `to`, oldest first, once the mail sender has run every job queued so far. */
async function resetMails(to: string) {
  await stack.lambda?.idle()
  return (await catcher.messages(to)).filter((mail) => mail.subject.includes('Reset'))
}

/** The token of the newest reset mail to `to` (waiting for it when `count` mails are expected). */
async function newestToken(to: string, count = 1): Promise<string> {
  await catcher.waitFor(to, () => true)
  const mails = await resetMails(to)
  expect(mails).toHaveLength(count)
  const token = LINK.exec(mails.at(-1)?.text ?? '')?.[1]
  if (!token) throw new Error('no link in the reset mail')
  return token
}

const rows = async <T>(query: ReturnType<typeof sql>) => (await database.db.execute(query)).rows as T[]

beforeAll(async () => {
  catcher = await startMailCatcher()
  // The functions read their settings once per process, at their first use: all of it is set before the stack starts.
  process.env.ADMIN_EMAIL = 'admin@example.com'
  process.env.ADMIN_PASSWORD = randomBytes(18).toString('base64url')
  process.env.BCRYPT_COST = '10'
  process.env.LOGIN_MAX_FAILURES = String(MAX_FAILURES)
  process.env.PASSWORD_RESET_EMAIL_LIMIT = String(EMAIL_LIMIT)
  process.env.PASSWORD_RESET_IP_LIMIT = String(IP_LIMIT)
  process.env.PRODUCT_NAME = 'Past Questions Test'
  stack = await startLocalStack({
    setup: 'functions',
    server: {},
    mail: { smtpUrl: catcher.smtpUrl, resetUrl: RESET_URL, from: 'Past Questions <no-reply@example.test>' },
  })
  if (!stack.server) throw new Error('the stack serves no API')
  port = stack.server.port
  database = stackDatabase(stack)
}, 120_000)

afterAll(async () => {
  await database?.close()
  await stack?.stop()
  await catcher?.stop()
})

describe('a forgotten password, reset by email', () => {
  it('mails a single-use link; the new password logs in; the old password, every old token and the link are refused', async () => {
    const email = uniqueEmail()
    await register(email, 'old password 1')
    const phone = await session(email, 'old password 1')
    const laptop = await session(email, 'old password 1')

    expect(await requestReset(email, newAddress())).toMatchObject(ACCEPTED)
    const mails = await resetMails(email)
    expect(mails).toHaveLength(1)
    const [mail] = mails
    expect(mail?.from[0]?.address).toBe('no-reply@example.test')
    expect(mail?.subject).toBe('Reset your Past Questions Test password')
    expect(mail?.text).toContain('within 30 minutes')
    const token = await newestToken(email)
    // 256 random bits, base64url; stored only as a hash.
    expect(Buffer.from(token, 'base64url')).toHaveLength(32)
    const stored = await rows<{ token_hash: string }>(sql`
      select t.token_hash from password_reset_tokens t join users u on u.id = t.user_id where u.email = ${email}`)
    expect(stored).toHaveLength(1)
    expect(stored[0]?.token_hash).not.toContain(token)

    expect(await confirm(token, 'new password 2')).toMatchObject({ status: 204 })

    expect(await logIn(email, 'new password 2')).toMatchObject({ status: 200 })
    expect(await logIn(email, 'old password 1')).toMatchObject(WRONG_LOGIN)
    expect(await refresh(phone.refresh_token)).toMatchObject(INVALID)
    expect(await refresh(laptop.refresh_token)).toMatchObject(INVALID)
    expect(await call('GET', '/users/me', { token: phone.access_token })).toMatchObject(INVALID)
    // The link is used up, whatever the new password tried with it.
    expect(await confirm(token, 'new password 2')).toMatchObject(DEAD_LINK)
    expect(await confirm(token, 'third password 3')).toMatchObject(DEAD_LINK)
    expect(await logIn(email, 'third password 3')).toMatchObject(WRONG_LOGIN)

    // The notice follows.
    const notice = await catcher.waitFor(email, (caught) => caught.subject.includes('was changed'))
    expect(notice.subject).toBe('Your Past Questions Test password was changed')
    const events = await rows<{ type: string }>(sql`
      select e.type from security_events e join users u on u.id = e.user_id
      where u.email = ${email} and e.type like 'password%' order by e.id`)
    expect(events.map(({ type }) => type)).toEqual([
      'password_reset_requested',
      'password_reset_mail_sent',
      'password_reset_completed',
      'password_changed_mail_sent',
    ])
  })

  it('answers an unknown email exactly as a known one (status, body, headers) and mails nothing', async () => {
    const known = uniqueEmail()
    await register(known, 'known password 1')
    const unknown = uniqueEmail()
    const from = newAddress()
    const forKnown = await requestReset(known, from)
    const forUnknown = await requestReset(unknown, from)
    const comparable = ({ status, headers, body }: Answer) => {
      const { date: _date, ...rest } = headers
      return { status, headers: rest, body }
    }
    expect(comparable(forUnknown)).toEqual(comparable(forKnown))
    expect(forUnknown).toMatchObject(ACCEPTED)
    await newestToken(known)
    expect(await catcher.messages(unknown)).toEqual([])
    expect(
      await rows(sql`select 1 from password_reset_tokens t join users u on u.id = t.user_id
      where u.email = ${unknown}`),
    ).toEqual([])
  })

  it('makes an older link void when a newer one is requested', async () => {
    const email = uniqueEmail()
    await register(email, 'first password 1')
    await requestReset(email, newAddress())
    const older = await newestToken(email, 1)
    await requestReset(email, newAddress())
    const newer = await newestToken(email, 2)
    expect(newer).not.toBe(older)
    expect(await confirm(older, 'second password 2')).toMatchObject(DEAD_LINK)
    expect(await confirm(newer, 'second password 2')).toMatchObject({ status: 204 })
  })

  describe('a link mailed before the password or the sessions ended is void afterwards', () => {
    const voiders: Record<string, (email: string, password: string) => Promise<void>> = {
      'a password change': async (email, password) => {
        const { access_token } = await session(email, password)
        const changed = await call('POST', '/users/me/password', {
          body: { current_password: password, new_password: 'a changed password 7' },
          token: access_token,
        })
        expect(changed.status).toBe(204)
      },
      '"end all sessions"': async (email, password) => {
        const { access_token } = await session(email, password)
        expect((await call('DELETE', '/users/me/sessions', { token: access_token })).status).toBe(204)
      },
      'a deactivation, even once undone': async (email) => {
        await database.db.execute(sql`update users set is_active = false where email = ${email}`)
        await database.db.execute(sql`update users set is_active = true where email = ${email}`)
      },
    }
    for (const [name, voidLinks] of Object.entries(voiders)) {
      it(`refuses a link mailed before ${name} (400)`, async () => {
        const email = uniqueEmail()
        const password = 'first password 1'
        await register(email, password)
        expect(await requestReset(email, newAddress())).toMatchObject(ACCEPTED)
        const token = await newestToken(email)
        await voidLinks(email, password)
        expect(await confirm(token, 'taken over password 9')).toMatchObject(DEAD_LINK)
        expect(await logIn(email, 'taken over password 9')).toMatchObject(WRONG_LOGIN)
      })
    }
  })

  it('lets one of many concurrent confirmations with one link through, and its password is the one set', async () => {
    const email = uniqueEmail()
    await register(email, 'first password 1')
    await requestReset(email, newAddress())
    const token = await newestToken(email)
    const passwords = Array.from({ length: 8 }, (_, i) => `racing password ${i}`)
    const answers = await Promise.all(passwords.map((password) => confirm(token, password)))
    expect(answers.filter((answer) => answer.status === 204)).toHaveLength(1)
    expect(answers.filter((answer) => answer.status === 400)).toHaveLength(passwords.length - 1)
    const winner = passwords[answers.findIndex((answer) => answer.status === 204)] as string
    for (const password of passwords) {
      expect((await logIn(email, password)).status).toBe(password === winner ? 200 : 401)
    }
  })

  it('refuses an expired link, an unknown token and a malformed one with the same answer', async () => {
    const email = uniqueEmail()
    await register(email, 'first password 1')
    await requestReset(email, newAddress())
    const token = await newestToken(email)
    await database.db.execute(sql`
      update password_reset_tokens set expires_at = now() - interval '1 second'
      where user_id = (select id from users where email = ${email})`)
    expect(await confirm(token, 'second password 2')).toMatchObject(DEAD_LINK)
    expect(await confirm(randomBytes(32).toString('base64url'), 'second password 2')).toMatchObject(DEAD_LINK)
    expect(await confirm('not a token at all', 'second password 2')).toMatchObject(DEAD_LINK)
    expect(await logIn(email, 'first password 1')).toMatchObject({ status: 200 })
  })

  it('holds the new password to the register rules (422), leaving the link usable', async () => {
    const email = uniqueEmail()
    await register(email, 'first password 1')
    await requestReset(email, newAddress())
    const token = await newestToken(email)
    const short = await confirm(token, 'short')
    expect(short.status).toBe(422)
    expect(JSON.stringify(short.body)).toContain('new_password')
    expect(await confirm(token, 'x'.repeat(73))).toMatchObject({ status: 422 })
    expect(
      await call('POST', '/auth/password-reset/confirm', { body: { new_password: 'long enough 1' } }),
    ).toMatchObject({
      status: 422,
    })
    expect(await requestReset('not an email', newAddress())).toMatchObject({ status: 422 })
    expect(await confirm(token, 'second password 2')).toMatchObject({ status: 204 })
  })

  it('clears the failed-login lock: locked before, the new password logs in at once', async () => {
    const email = uniqueEmail()
    await register(email, 'first password 1')
    for (let i = 0; i < MAX_FAILURES; i++) await logIn(email, 'wrong password')
    expect((await logIn(email, 'first password 1')).status).toBe(429)
    await requestReset(email, newAddress())
    expect(await confirm(await newestToken(email), 'second password 2')).toMatchObject({ status: 204 })
    expect(await logIn(email, 'second password 2')).toMatchObject({ status: 200 })
  })

  it(`limits requests per email (${EMAIL_LIMIT}), known or not, and per source IP (${IP_LIMIT}): 429 with Retry-After`, async () => {
    const known = uniqueEmail()
    await register(known, 'some password 1')
    for (const email of [known, uniqueEmail()]) {
      for (let i = 0; i < EMAIL_LIMIT; i++)
        expect(await requestReset(email, newAddress())).toMatchObject(ACCEPTED)
      const refused = await requestReset(email, newAddress())
      expect(refused).toMatchObject({ status: 429, body: { detail: 'Too many password reset requests' } })
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0)
    }
    const from = newAddress()
    for (let i = 0; i < IP_LIMIT; i++) expect(await requestReset(uniqueEmail(), from)).toMatchObject(ACCEPTED)
    const refused = await requestReset(uniqueEmail(), from)
    expect(refused.status).toBe(429)
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(3000)
    // Another address is not held back by this one.
    expect(await requestReset(uniqueEmail(), newAddress())).toMatchObject(ACCEPTED)
  })
})

describe('the reset limits under concurrency', () => {
  it('let exactly the limit through per email and per address, however many requests arrive at once', async () => {
    const email = uniqueEmail()
    await register(email, 'some password 1')
    const perEmail = await Promise.all(Array.from({ length: 15 }, () => requestReset(email, newAddress())))
    expect(perEmail.filter((answer) => answer.status === 202)).toHaveLength(EMAIL_LIMIT)
    expect(perEmail.filter((answer) => answer.status === 429)).toHaveLength(15 - EMAIL_LIMIT)
    // One mail job per request let through, no more (of their mails, an older one finding a newer job sends none).
    await stack.lambda?.idle()
    const jobs = await rows<{ kind: string }>(sql`
      select o.kind from mail_outbox o join users u on u.id = o.user_id where u.email = ${email}`)
    expect(jobs).toHaveLength(EMAIL_LIMIT)

    const from = newAddress()
    const perAddress = await Promise.all(Array.from({ length: 15 }, () => requestReset(uniqueEmail(), from)))
    expect(perAddress.filter((answer) => answer.status === 202)).toHaveLength(IP_LIMIT)
    expect(perAddress.filter((answer) => answer.status === 429)).toHaveLength(15 - IP_LIMIT)
  })
})

describe('a password change and the sessions a user sees', () => {
  it('changes the password: the current session kept, every other one revoked; the notice mailed', async () => {
    const email = uniqueEmail()
    await register(email, 'first password 1')
    const current = await session(email, 'first password 1')
    const other = await session(email, 'first password 1')
    const changed = await call('POST', '/users/me/password', {
      token: current.access_token,
      body: { current_password: 'first password 1', new_password: 'second password 2' },
    })
    expect(changed.status).toBe(204)
    expect(await call('GET', '/users/me', { token: current.access_token })).toMatchObject({ status: 200 })
    expect(await refresh(current.refresh_token)).toMatchObject({ status: 200 })
    expect(await refresh(other.refresh_token)).toMatchObject(INVALID)
    expect(await call('GET', '/users/me', { token: other.access_token })).toMatchObject(INVALID)
    expect(await logIn(email, 'first password 1')).toMatchObject(WRONG_LOGIN)
    expect(await logIn(email, 'second password 2')).toMatchObject({ status: 200 })
    await catcher.waitFor(email, (mail) => mail.subject.includes('was changed'))

    const wrong = await call('POST', '/users/me/password', {
      token: current.access_token,
      body: { current_password: 'not my password', new_password: 'third password 3' },
    })
    expect(wrong).toMatchObject({ status: 400, body: { detail: 'Incorrect password' } })
  })

  it('lists the live sessions with which one is current, ends one, then all', async () => {
    const email = uniqueEmail()
    await register(email, 'first password 1')
    const first = await session(email, 'first password 1')
    const second = await session(email, 'first password 1')
    const listed = await call('GET', '/users/me/sessions', { token: second.access_token })
    expect(listed.status).toBe(200)
    const sessions = listed.body as { id: string; current: boolean; ip: string; user_agent: string }[]
    expect(sessions).toHaveLength(2)
    expect(sessions.filter((s) => s.current)).toHaveLength(1)
    expect(sessions[0]).toMatchObject({
      id: expect.any(String),
      created_at: expect.any(String),
      last_used_at: expect.any(String),
      ip: expect.stringMatching(/^127\./),
      user_agent: 'password-lifecycle-test',
    })
    const other = sessions.find((s) => !s.current)
    expect(
      await call('DELETE', `/users/me/sessions/${other?.id}`, { token: second.access_token }),
    ).toMatchObject({
      status: 204,
    })
    expect(await refresh(first.refresh_token)).toMatchObject(INVALID)
    expect(await call('GET', '/users/me', { token: second.access_token })).toMatchObject({ status: 200 })
    expect(
      await call('DELETE', `/users/me/sessions/${crypto.randomUUID()}`, { token: second.access_token }),
    ).toMatchObject({ status: 404 })

    expect(await call('DELETE', '/users/me/sessions', { token: second.access_token })).toMatchObject({
      status: 204,
    })
    expect(await call('GET', '/users/me', { token: second.access_token })).toMatchObject(INVALID)
    expect(await refresh(second.refresh_token)).toMatchObject(INVALID)
  })
})
