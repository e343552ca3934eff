/**
 * Email verification and email change by mailed codes, over HTTP against the local stack as `npm start` builds it,
 * with a real SMTP server (MailDev) catching the mail the send-mail function sends: the code's rules (hashed, newest
 * only, 15 minutes, 5 tries, single use), the answers that say nothing about an account, and the email change that
 * changes nothing until its code is confirmed.
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
  body: { detail: 'If an account with this email needs verifying, a code has been sent to it.' },
}
const BAD_CODE = { status: 400, body: { detail: 'Invalid or expired code' } }
const INVALID = { status: 401, body: { detail: 'Could not validate credentials' } }
const WRONG_LOGIN = { status: 401, body: { detail: 'Incorrect email or password' } }

let stack: LocalStack
let catcher: MailCatcher
let port: number
/** The cluster's superuser on the service's database: to look at rows and to age a link. */
let database: DatabaseHandle

const { call, newAddress } = loopbackClient(() => port, 'email-verification-test')

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
const requestCode = (email: string, from = newAddress()) =>
  call('POST', '/auth/email-verification', { body: { email }, from })
const confirmCode = (email: string, code: string) =>
  call('POST', '/auth/email-verification/confirm', { body: { email, code }, from: newAddress() })
const refresh = (refreshToken: string) =>
  call('POST', '/auth/refresh', { body: { refresh_token: refreshToken } })
/** The access token's claims (the signature is the stack's business, checked by every route that takes it). */
const claims = (token: string) =>
  JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>

const CODE = /^(\d{6})$/m

/** The code mails to `to` whose subject says `kind`, oldest first, once the mail sender has run every job so far. */
async function codeMails(to: string, kind = 'verification code') {
  await stack.lambda?.idle()
  return (await catcher.messages(to)).filter((mail) => mail.subject.includes(kind))
}

/** The code of the newest code mail to `to` (`count` such mails expected). */
async function newestCode(to: string, count = 1, kind = 'verification code'): Promise<string> {
  await catcher.waitFor(to, (mail) => mail.subject.includes(kind))
  const mails = await codeMails(to, kind)
  expect(mails).toHaveLength(count)
  const code = CODE.exec(mails.at(-1)?.text ?? '')?.[1]
  if (!code) throw new Error('no code in the mail')
  return code
}

/** A 6-digit code that is not `code`. */
const otherThan = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0')

const rows = async <T>(query: ReturnType<typeof sql>) => (await database.db.execute(query)).rows as T[]

beforeAll(async () => {
  catcher = await startMailCatcher()
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

describe('email verification by a mailed code', () => {
  it('register, request, the mailed code, confirm: email_verified in /users/me and in new access tokens', async () => {
    const email = uniqueEmail()
    await register(email, 'first password 1')
    const before = await session(email, 'first password 1')
    expect(claims(before.access_token).email_verified).toBe(false)
    expect((await call('GET', '/users/me', { token: before.access_token })).body).toMatchObject({
      email_verified: false,
    })

    expect(await requestCode(email)).toMatchObject(ACCEPTED)
    const code = await newestCode(email)
    const [mail] = await codeMails(email)
    expect(mail?.subject).toBe(`Your Past Questions Test verification code: ${code}`)
    expect(mail?.text).toContain('within 15 minutes')
    // Only a hash is stored.
    const stored = await rows<{ code_hash: string; purpose: string }>(sql`
      select c.code_hash, c.purpose from email_codes c join users u on u.id = c.user_id where u.email = ${email}`)
    expect(stored).toHaveLength(1)
    expect(stored[0]?.purpose).toBe('verify')
    expect(stored[0]?.code_hash).not.toContain(code)

    const confirmed = await confirmCode(email, code)
    expect(confirmed).toMatchObject({ status: 200, body: { email, email_verified: true } })
    expect((await call('GET', '/users/me', { token: before.access_token })).body).toMatchObject({
      email_verified: true,
    })
    expect(claims((await session(email, 'first password 1')).access_token).email_verified).toBe(true)
    // A refreshed token of the session from before says what the account is now.
    const refreshed = await refresh(before.refresh_token)
    expect(claims((refreshed.body as TokenPair).access_token).email_verified).toBe(true)
    // Used up.
    expect(await confirmCode(email, code)).toMatchObject(BAD_CODE)
  })

  it('answers an unknown and a verified address exactly as an unverified one (status, body, headers), mailing neither', async () => {
    const unverified = uniqueEmail()
    await register(unverified, 'first password 1')
    const verified = uniqueEmail()
    await register(verified, 'first password 1')
    await database.db.execute(sql`update users set email_verified = true where email = ${verified}`)
    const unknown = uniqueEmail()
    const from = newAddress()
    const comparable = ({ status, headers, body }: Answer) => {
      const { date: _date, ...rest } = headers
      return { status, headers: rest, body }
    }
    const forUnverified = comparable(await requestCode(unverified, from))
    expect(comparable(await requestCode(unknown, from))).toEqual(forUnverified)
    expect(comparable(await requestCode(verified, from))).toEqual(forUnverified)
    expect(forUnverified).toMatchObject(ACCEPTED)
    await newestCode(unverified)
    expect(await catcher.messages(unknown)).toEqual([])
    expect(await catcher.messages(verified)).toEqual([])
    // Not even a job: the request's own statement queued none for them.
    expect(
      await rows(sql`select 1 from mail_outbox o join users u on u.id = o.user_id
        where u.email = ${verified} and o.kind = 'email_verification'`),
    ).toEqual([])
  })

  it('voids a code at the fifth wrong try; four wrong tries leave it usable', async () => {
    const email = uniqueEmail()
    await register(email, 'first password 1')
    await requestCode(email)
    const code = await newestCode(email)
    for (let i = 0; i < 4; i++) expect(await confirmCode(email, otherThan(code))).toMatchObject(BAD_CODE)
    expect(await confirmCode(email, code)).toMatchObject({ status: 200 })

    const other = uniqueEmail()
    await register(other, 'first password 1')
    await requestCode(other)
    const voided = await newestCode(other)
    for (let i = 0; i < 5; i++) expect(await confirmCode(other, otherThan(voided))).toMatchObject(BAD_CODE)
    expect(await confirmCode(other, voided)).toMatchObject(BAD_CODE)
    expect(
      await rows(sql`select 1 from email_codes c join users u on u.id = c.user_id where u.email = ${other}`),
    ).toEqual([])
  })

  it('checks no more than five guesses however many arrive at once', async () => {
    const email = uniqueEmail()
    await register(email, 'first password 1')
    await requestCode(email)
    const code = await newestCode(email)
    const guesses = Array.from({ length: 12 }, (_, i) =>
      String((Number(code) + i + 1) % 1_000_000).padStart(6, '0'),
    )
    const answers = await Promise.all(guesses.map((guess) => confirmCode(email, guess)))
    expect(answers.every((answer) => answer.status === 400)).toBe(true)
    // Each guess waited for the one before it: five were checked against the code, the rest found none.
    const checked = await rows(sql`
      select 1 from security_events e join users u on u.id = e.user_id
      where u.email = ${email} and e.type = 'email_code_failed'`)
    expect(checked).toHaveLength(5)
    expect(await confirmCode(email, code)).toMatchObject(BAD_CODE)
  })

  it('refuses an expired code', async () => {
    const email = uniqueEmail()
    await register(email, 'first password 1')
    await requestCode(email)
    const code = await newestCode(email)
    await database.db.execute(sql`
      update email_codes set expires_at = now() - interval '1 second'
      where user_id = (select id from users where email = ${email})`)
    expect(await confirmCode(email, code)).toMatchObject(BAD_CODE)
  })

  it('makes an older code void when a newer one is requested', async () => {
    const email = uniqueEmail()
    await register(email, 'first password 1')
    await requestCode(email)
    const older = await newestCode(email, 1)
    await requestCode(email)
    const newer = await newestCode(email, 2)
    if (older !== newer) expect(await confirmCode(email, older)).toMatchObject(BAD_CODE)
    expect(await confirmCode(email, newer)).toMatchObject({ status: 200 })
  })

  it('lets one of many concurrent confirmations with one code through', async () => {
    const email = uniqueEmail()
    await register(email, 'first password 1')
    await requestCode(email)
    const code = await newestCode(email)
    const answers = await Promise.all(Array.from({ length: 8 }, () => confirmCode(email, code)))
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(1)
    expect(answers.filter((answer) => answer.status === 400)).toHaveLength(7)
    const events = await rows(sql`
      select 1 from security_events e join users u on u.id = e.user_id
      where u.email = ${email} and e.type = 'email_verified'`)
    expect(events).toHaveLength(1)
  })

  it(`limits requests per email (${EMAIL_LIMIT}), known or not: 429 with Retry-After`, async () => {
    const email = uniqueEmail()
    for (let i = 0; i < EMAIL_LIMIT; i++) expect(await requestCode(email)).toMatchObject(ACCEPTED)
    const refused = await requestCode(email)
    expect(refused).toMatchObject({ status: 429, body: { detail: 'Too many code requests' } })
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0)
  })

  it(`limits requests per source IP (${IP_LIMIT}), whatever the emails`, async () => {
    const from = newAddress()
    for (let i = 0; i < IP_LIMIT; i++) expect(await requestCode(uniqueEmail(), from)).toMatchObject(ACCEPTED)
    expect(await requestCode(uniqueEmail(), from)).toMatchObject({ status: 429 })
  })
})

describe('codes die with the credential, as reset links do', () => {
  /** Each voider given the account's email and password; the code was mailed before it. */
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
  for (const [name, voidCodes] of Object.entries(voiders)) {
    it(`refuses and deletes a code mailed before ${name}`, async () => {
      const email = uniqueEmail()
      const password = 'first password 1'
      await register(email, password)
      await requestCode(email)
      const code = await newestCode(email)
      await voidCodes(email, password)
      expect(
        await rows(
          sql`select 1 from email_codes c join users u on u.id = c.user_id where u.email = ${email}`,
        ),
      ).toEqual([])
      expect(await confirmCode(email, code)).toMatchObject(BAD_CODE)
    })
  }

  it('deletes the codes with an erased account', async () => {
    const email = uniqueEmail()
    await register(email, 'first password 1')
    await requestCode(email)
    await newestCode(email)
    const [user] = await rows<{ id: number }>(sql`select id from users where email = ${email}`)
    await database.db.execute(
      sql`select erase_account(${user?.id}::int, null, gen_random_uuid(), '127.0.0.1', 'test', null, null, false)`,
    )
    expect(await rows(sql`select 1 from email_codes where user_id = ${user?.id}`)).toEqual([])
  })

  it('a reset through a mailed link verifies the address and deletes a pending code', async () => {
    const email = uniqueEmail()
    await register(email, 'first password 1')
    await requestCode(email)
    const code = await newestCode(email)
    expect(await call('POST', '/auth/password-reset', { body: { email }, from: newAddress() })).toMatchObject(
      {
        status: 202,
      },
    )
    const resetMail = await catcher.waitFor(email, (mail) => mail.subject.includes('Reset'))
    const token = /token=([A-Za-z0-9_-]+)/.exec(resetMail.text)?.[1] ?? ''
    expect(
      await call('POST', '/auth/password-reset/confirm', {
        body: { token, new_password: 'second password 2' },
      }),
    ).toMatchObject({ status: 204 })
    expect(await confirmCode(email, code)).toMatchObject(BAD_CODE)
    const { access_token } = await session(email, 'second password 2')
    expect(claims(access_token).email_verified).toBe(true)
    expect((await call('GET', '/users/me', { token: access_token })).body).toMatchObject({
      email_verified: true,
    })
  })
})

describe('email change', () => {
  const requestChange = (token: string, new_email: string, current_password: string) =>
    call('POST', '/users/me/email', { body: { new_email, current_password }, token, from: newAddress() })
  const confirmChange = (token: string, code: string) =>
    call('POST', '/users/me/email/confirm', { body: { code }, token })
  const CHANGE = 'Confirm your new'

  it('changes nothing until the code is confirmed; then the new address logs in, the old is told, other sessions end', async () => {
    const old = uniqueEmail()
    const next = uniqueEmail()
    await register(old, 'first password 1')
    const current = await session(old, 'first password 1')
    const other = await session(old, 'first password 1')

    const asked = await requestChange(current.access_token, next, 'first password 1')
    expect(asked).toMatchObject({
      status: 202,
      body: {
        detail: 'A code has been sent to the new address. The email changes once the code is confirmed.',
      },
    })
    const code = await newestCode(next, 1, CHANGE)
    // Nothing changed yet: the old address logs in, the new one does not, reset mail still goes to the old.
    expect(await logIn(old, 'first password 1')).toMatchObject({ status: 200 })
    expect(await logIn(next, 'first password 1')).toMatchObject(WRONG_LOGIN)
    expect((await call('GET', '/users/me', { token: current.access_token })).body).toMatchObject({
      email: old,
    })
    expect(await catcher.messages(old)).toEqual([])

    const confirmed = await confirmChange(current.access_token, code)
    expect(confirmed).toMatchObject({ status: 200, body: { email: next, email_verified: true } })
    expect(await logIn(next, 'first password 1')).toMatchObject({ status: 200 })
    expect(await logIn(old, 'first password 1')).toMatchObject(WRONG_LOGIN)
    expect(await call('GET', '/users/me', { token: current.access_token })).toMatchObject({ status: 200 })
    expect(await call('GET', '/users/me', { token: other.access_token })).toMatchObject(INVALID)
    expect(await refresh(other.refresh_token)).toMatchObject(INVALID)
    const notice = await catcher.waitFor(old, (mail) => mail.subject.includes('email address was changed'))
    expect(notice.subject).toBe('Your Past Questions Test email address was changed')
    expect(await confirmChange(current.access_token, code)).toMatchObject(BAD_CODE)
  })

  it('refuses a wrong password (400) and mails nothing', async () => {
    const email = uniqueEmail()
    const next = uniqueEmail()
    await register(email, 'first password 1')
    const { access_token } = await session(email, 'first password 1')
    expect(await requestChange(access_token, next, 'wrong password 1')).toMatchObject({
      status: 400,
      body: { detail: 'Incorrect password' },
    })
    await stack.lambda?.idle()
    expect(await catcher.messages(next)).toEqual([])
  })

  it('refuses the confirmation when the new address was taken meanwhile (400, the register text); nothing moves', async () => {
    const email = uniqueEmail()
    const next = uniqueEmail()
    await register(email, 'first password 1')
    const { access_token } = await session(email, 'first password 1')
    await requestChange(access_token, next, 'first password 1')
    const code = await newestCode(next, 1, CHANGE)
    await register(next, 'someone else 2')
    expect(await confirmChange(access_token, code)).toMatchObject({
      status: 400,
      body: { detail: 'User with this email already exists' },
    })
    expect(await logIn(email, 'first password 1')).toMatchObject({ status: 200 })
  })

  it('refuses a wrong code (400) and another user’s code', async () => {
    const email = uniqueEmail()
    const next = uniqueEmail()
    await register(email, 'first password 1')
    const { access_token } = await session(email, 'first password 1')
    await requestChange(access_token, next, 'first password 1')
    const code = await newestCode(next, 1, CHANGE)
    expect(await confirmChange(access_token, otherThan(code))).toMatchObject(BAD_CODE)
    const stranger = uniqueEmail()
    await register(stranger, 'first password 1')
    const theirs = await session(stranger, 'first password 1')
    expect(await confirmChange(theirs.access_token, code)).toMatchObject(BAD_CODE)
    expect(await confirmChange(access_token, code)).toMatchObject({ status: 200, body: { email: next } })
  })
})
