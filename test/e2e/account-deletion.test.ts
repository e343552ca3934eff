/**
 * Leaving, from outside, over HTTP, against the local stack as `npm start` builds it (MailDev catching the mail): the
 * in-app deletion (`DELETE /users/me`) and what it ends at once, its password check under the failed-login lock, the
 * last superuser kept; the mailed link for the web page (uniform answers, single use, void after a password change or
 * a newer link, limited); and what is left of the account in the database: nothing with its email.
 */
import { randomBytes } from 'node:crypto'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DatabaseHandle } from '#db/client'
import { type LocalStack, startLocalStack } from '#infra/local/local-stack'
import { type MailCatcher, startMailCatcher } from '#infra/local/mail-catcher'
import { columnsHolding } from '#test/helpers/database'
import { stackDatabase } from '#test/helpers/local-stack'
import { type Answer, loopbackClient } from '#test/helpers/loopback-client'

interface TokenPair {
  access_token: string
  refresh_token: string
}

const PASSWORD = 'correct horse battery'
const ADMIN_EMAIL = 'admin@example.com'
const ADMIN_PASSWORD = randomBytes(18).toString('base64url')
const EMAIL_LIMIT = 3
const RESET_URL = 'https://app.example.test/reset-password?token={token}'
const DELETION_URL = 'https://app.example.test/delete-account?token={token}'
const ACCEPTED = {
  status: 202,
  body: { detail: 'If an account with this email exists, a link to delete it has been sent.' },
}
const DEAD_LINK = { status: 400, body: { detail: 'Invalid or expired account deletion token' } }
const INVALID = { status: 401, body: { detail: 'Could not validate credentials' } }
const WRONG_LOGIN = { status: 401, body: { detail: 'Incorrect email or password' } }
const WRONG_PASSWORD = { status: 400, body: { detail: 'Incorrect password' } }
const LAST_SUPERUSER = {
  status: 409,
  body: { detail: 'The service must keep at least one active superuser' },
}

let stack: LocalStack
let catcher: MailCatcher
let port: number
/** The cluster's superuser on the service's database: to look at what is left of an account. */
let database: DatabaseHandle

const { call, newAddress } = loopbackClient(() => port, 'account-deletion-test')

beforeAll(async () => {
  catcher = await startMailCatcher()
  process.env.ADMIN_EMAIL = ADMIN_EMAIL
  process.env.ADMIN_PASSWORD = ADMIN_PASSWORD
  process.env.BCRYPT_COST = '10'
  process.env.REGISTER_RATE_LIMIT = '1000'
  process.env.PASSWORD_RESET_EMAIL_LIMIT = String(EMAIL_LIMIT)
  stack = await startLocalStack({
    setup: 'functions',
    server: {},
    mail: {
      smtpUrl: catcher.smtpUrl,
      resetUrl: RESET_URL,
      deletionUrl: DELETION_URL,
      from: 'Past Questions <no-reply@example.test>',
    },
  })
  if (!stack.server) throw new Error('the stack serves no API')
  port = Number(new URL(stack.server.url).port)
  database = stackDatabase(stack)
}, 120_000)

afterAll(async () => {
  await database?.close()
  await stack?.stop()
  await catcher?.stop()
})

const logIn = (email: string, password = PASSWORD, from = newAddress()) =>
  call('POST', '/auth/login', { body: { email, password }, from })
const session = async (email: string, password = PASSWORD) => {
  const answer = await logIn(email, password)
  expect(answer.status).toBe(200)
  return answer.body as TokenPair
}
const deleteOwn = (token: string, password: string, from = newAddress()) =>
  call('DELETE', '/users/me', { token, body: { current_password: password }, from })
const requestLink = (email: string, from = newAddress()) =>
  call('POST', '/auth/account-deletion', { body: { email }, from })
const confirmLink = (token: string) =>
  call('POST', '/auth/account-deletion/confirm', { body: { token }, from: newAddress() })
const refresh = (refreshToken: string) =>
  call('POST', '/auth/refresh', { body: { refresh_token: refreshToken }, from: newAddress() })

let accounts = 0
/** A registered account, its email and id. */
async function account(prefix = 'leaver') {
  accounts += 1
  const email = `${prefix}.${randomBytes(3).toString('hex')}.${accounts}@example.com`
  const registered = await call('POST', '/auth/register', {
    body: { email, password: PASSWORD, username: `${prefix}_${randomBytes(3).toString('hex')}` },
    from: newAddress(),
  })
  expect(registered.status).toBe(201)
  return { email, id: (registered.body as { id: number }).id }
}

/** The mails to `to` whose subject has `subject`, once the mail sender has run every job so far. */
async function mails(to: string, subject: string) {
  await stack.lambda?.idle()
  return (await catcher.messages(to)).filter((mail) => mail.subject.includes(subject))
}

/** The token of the newest mailed link to `to` whose page is `page` (`count` such mails expected). */
async function linkToken(to: string, page: 'delete-account' | 'reset-password', count = 1): Promise<string> {
  const subject = page === 'delete-account' ? 'Delete your' : 'Reset your'
  await catcher.waitFor(to, (mail) => mail.subject.includes(subject))
  const found = await mails(to, subject)
  expect(found).toHaveLength(count)
  const token = new RegExp(`https://app\\.example\\.test/${page}\\?token=([\\w-]+)`).exec(
    found.at(-1)?.text ?? '',
  )?.[1]
  if (!token) throw new Error('no link in the mail')
  return token
}

describe('DELETE /users/me', () => {
  it('erases the account at once: every token, session, link and code refused, a notice mailed, the email free again', async () => {
    const { email, id } = await account()
    const phone = await session(email)
    const laptop = await session(email)
    // A reset link, a verification code and a deletion link, each live when the account goes.
    expect((await call('POST', '/auth/password-reset', { body: { email }, from: newAddress() })).status).toBe(
      202,
    )
    const resetToken = await linkToken(email, 'reset-password')
    expect(
      (await call('POST', '/auth/email-verification', { body: { email }, from: newAddress() })).status,
    ).toBe(202)
    await catcher.waitFor(email, (mail) => mail.subject.includes('verification code'))
    const code = /^(\d{6})$/m.exec((await mails(email, 'verification code')).at(-1)?.text ?? '')?.[1]
    expect(code).toMatch(/^\d{6}$/)
    expect(await requestLink(email)).toMatchObject(ACCEPTED)
    const deletionToken = await linkToken(email, 'delete-account')

    const deleted = await deleteOwn(phone.access_token, PASSWORD)
    expect(deleted.status).toBe(204)
    expect(deleted.body).toBeUndefined()

    for (const pair of [phone, laptop]) {
      expect(await call('GET', '/users/me', { token: pair.access_token })).toMatchObject(INVALID)
      expect((await refresh(pair.refresh_token)).status).toBe(401)
    }
    expect(
      await call('POST', '/auth/password-reset/confirm', {
        body: { token: resetToken, new_password: 'a brand new password' },
        from: newAddress(),
      }),
    ).toMatchObject({ status: 400, body: { detail: 'Invalid or expired password reset token' } })
    expect(
      await call('POST', '/auth/email-verification/confirm', { body: { email, code }, from: newAddress() }),
    ).toMatchObject({ status: 400, body: { detail: 'Invalid or expired code' } })
    expect(await confirmLink(deletionToken)).toMatchObject(DEAD_LINK)
    expect(await logIn(email)).toMatchObject(WRONG_LOGIN)

    const notice = await catcher.waitFor(email, (mail) => mail.subject.includes('was deleted'))
    expect(notice.text).toContain('was deleted on')
    expect(notice.text).not.toMatch(/token=|\d{6}/)

    // Nothing of the account keeps its address, once the notice has gone (the failed-login counter of the address
    // just typed at the login form is the form's, not the account's: it ends with its window, as any address's).
    await stack.lambda?.idle()
    expect(
      (await columnsHolding(database.db, email)).filter((where) => where !== 'login_attempts.email'),
    ).toEqual([])
    // Its events keep the id and what happened; the erasure is one of them.
    const events = await database.db.execute<{ type: string; email: string | null }>(
      sql`select type, email from security_events where user_id = ${id} order by id`,
    )
    expect(events.rows.map((event) => event.type)).toContain('account_deleted')
    expect(events.rows.filter((event) => event.email !== null)).toEqual([])

    const again = await call('POST', '/auth/register', {
      body: { email, password: PASSWORD, username: `again_${randomBytes(3).toString('hex')}` },
      from: newAddress(),
    })
    expect(again.status).toBe(201)
    expect((again.body as { id: number }).id).not.toBe(id)
    expect((await logIn(email)).status).toBe(200)
  })

  it('answers a wrong password 400, counted towards the failed-login lock, and keeps the account', async () => {
    const { email } = await account()
    const { access_token } = await session(email)
    for (let failure = 1; failure <= 10; failure++)
      expect(await deleteOwn(access_token, 'not the password'), `failure ${failure}`).toMatchObject(
        WRONG_PASSWORD,
      )
    // The lock now refuses even the right password, as it refuses a login.
    const locked = await deleteOwn(access_token, PASSWORD)
    expect(locked).toMatchObject({ status: 429, body: { detail: 'Too many failed login attempts' } })
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0)
    expect((await call('GET', '/users/me', { token: access_token })).status).toBe(200)
  })

  it('refuses a request without a token (401), a missing or empty password (422) or no body (415), changing nothing', async () => {
    const { email } = await account()
    const { access_token } = await session(email)
    expect(
      await call('DELETE', '/users/me', { body: { current_password: PASSWORD }, from: newAddress() }),
    ).toMatchObject({ status: 401 })
    for (const body of [{}, { current_password: '' }, { password: PASSWORD }])
      expect(
        (await call('DELETE', '/users/me', { token: access_token, body })).status,
        JSON.stringify(body),
      ).toBe(422)
    // No body at all is no JSON body: 415, as on every JSON route.
    expect((await call('DELETE', '/users/me', { token: access_token })).status).toBe(415)
    expect((await call('GET', '/users/me', { token: access_token })).status).toBe(200)
  })

  it('keeps the last active superuser (409), and lets a superuser go while another remains', async () => {
    const admin = await session(ADMIN_EMAIL, ADMIN_PASSWORD)
    expect(await deleteOwn(admin.access_token, ADMIN_PASSWORD)).toMatchObject(LAST_SUPERUSER)
    expect((await call('GET', '/users/me', { token: admin.access_token })).status).toBe(200)

    const { email, id } = await account('second_admin')
    expect(
      (await call('PATCH', `/admin/users/${id}`, { token: admin.access_token, body: { is_superuser: true } }))
        .status,
    ).toBe(200)
    const second = await session(email)
    expect((await deleteOwn(second.access_token, PASSWORD)).status).toBe(204)
    expect(await deleteOwn(admin.access_token, ADMIN_PASSWORD)).toMatchObject(LAST_SUPERUSER)
  })

  it('refuses the token of a session ended since (401), leaving the account', async () => {
    const { email } = await account()
    const first = await session(email)
    const second = await session(email)
    expect((await call('DELETE', '/users/me/sessions', { token: second.access_token })).status).toBe(204)
    expect(await deleteOwn(first.access_token, PASSWORD)).toMatchObject(INVALID)
    expect((await logIn(email)).status).toBe(200)
  })
})

describe('the mailed deletion link', () => {
  it('erases the account of a live link, once: the same link then answers 400', async () => {
    const { email, id } = await account()
    const { access_token, refresh_token } = await session(email)
    expect(await requestLink(email)).toMatchObject(ACCEPTED)
    const mail = (await mails(email, 'Delete your')).at(-1)
    expect(mail?.text).toMatch(/within\s+30\s+minutes/)
    const token = await linkToken(email, 'delete-account')

    const confirmed = await confirmLink(token)
    expect(confirmed.status).toBe(204)
    expect(confirmed.body).toBeUndefined()
    expect(await confirmLink(token)).toMatchObject(DEAD_LINK)
    expect(await call('GET', '/users/me', { token: access_token })).toMatchObject(INVALID)
    expect((await refresh(refresh_token)).status).toBe(401)
    expect(await logIn(email)).toMatchObject(WRONG_LOGIN)
    await catcher.waitFor(email, (caught) => caught.subject.includes('was deleted'))
    const erased = await database.db.execute<{ count: number }>(
      sql`select count(*)::int as count from security_events where user_id = ${id} and type = 'account_deleted'`,
    )
    expect(erased.rows[0]?.count).toBe(1)
  })

  it('answers an unknown, an inactive and a known address alike, and mails only the known one', async () => {
    const known = await account()
    const inactive = await account()
    const admin = await session(ADMIN_EMAIL, ADMIN_PASSWORD)
    expect(
      (
        await call('PATCH', `/admin/users/${inactive.id}`, {
          token: admin.access_token,
          body: { is_active: false },
        })
      ).status,
    ).toBe(200)
    const unknown = `nobody.${randomBytes(4).toString('hex')}@example.com`
    const shape = (answer: Answer) => ({
      status: answer.status,
      body: answer.body,
      headers: Object.keys(answer.headers)
        .filter((name) => !['date', 'x-request-id', 'content-length'].includes(name))
        .sort()
        .map((name) => `${name}: ${name === 'keep-alive' ? '' : answer.headers[name]}`),
    })
    const answers = [
      await requestLink(known.email),
      await requestLink(unknown),
      await requestLink(inactive.email),
    ].map(shape)
    expect(answers[0]).toMatchObject(ACCEPTED)
    expect(answers[1]).toEqual(answers[0])
    expect(answers[2]).toEqual(answers[0])
    await stack.lambda?.idle()
    expect(await mails(known.email, 'Delete your')).toHaveLength(1)
    expect(await catcher.messages(unknown)).toEqual([])
    expect(await mails(inactive.email, 'Delete your')).toEqual([])
  })

  it('voids a link when the password changes, and an older link when a newer one is asked for', async () => {
    const { email } = await account()
    expect(await requestLink(email)).toMatchObject(ACCEPTED)
    const beforeChange = await linkToken(email, 'delete-account')
    const { access_token } = await session(email)
    const changed = await call('POST', '/users/me/password', {
      token: access_token,
      body: { current_password: PASSWORD, new_password: 'another good password' },
      from: newAddress(),
    })
    expect(changed.status).toBe(204)
    expect(await confirmLink(beforeChange)).toMatchObject(DEAD_LINK)
    expect((await logIn(email, 'another good password')).status).toBe(200)

    expect(await requestLink(email)).toMatchObject(ACCEPTED)
    const older = await linkToken(email, 'delete-account', 2)
    expect(await requestLink(email)).toMatchObject(ACCEPTED)
    const newer = await linkToken(email, 'delete-account', 3)
    expect(await confirmLink(older)).toMatchObject(DEAD_LINK)
    expect((await confirmLink(newer)).status).toBe(204)
  })

  it('limits the requests per address as a reset (429 with Retry-After), counted apart from resets', async () => {
    const { email } = await account()
    const from = newAddress()
    for (let request = 1; request <= EMAIL_LIMIT; request++)
      expect(await requestLink(email, from), `request ${request}`).toMatchObject(ACCEPTED)
    const refused = await requestLink(email, from)
    expect(refused).toMatchObject({ status: 429, body: { detail: 'Too many account deletion requests' } })
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0)
    // The reset's own count is untouched.
    expect((await call('POST', '/auth/password-reset', { body: { email }, from })).status).toBe(202)
  })

  it('refuses a token that was never issued, and a malformed body, with the contract answers', async () => {
    expect(await confirmLink(randomBytes(32).toString('base64url'))).toMatchObject(DEAD_LINK)
    expect(
      (await call('POST', '/auth/account-deletion/confirm', { body: {}, from: newAddress() })).status,
    ).toBe(422)
    expect((await call('POST', '/auth/account-deletion', { body: { email: 'not an email' } })).status).toBe(
      422,
    )
  })
})
