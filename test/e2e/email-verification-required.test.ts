/**
 * `EMAIL_VERIFICATION=required` over HTTP against the local stack, with mail read from MailDev: registration mails a
 * code at once; the right password of an unverified account is 403 (the token endpoint's password grant in RFC 6749
 * form), a wrong one 401 as ever; the code request needs no sign-in; once verified, the login works.
 */
import { randomBytes } from 'node:crypto'
import { request } from 'node:http'
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
const WRONG_LOGIN = { status: 401, body: { detail: 'Incorrect email or password' } }

let stack: LocalStack
let catcher: MailCatcher
let port: number
/** The cluster's superuser on the service's database: to look at rows and to age a link. */
let database: DatabaseHandle

const { call, newAddress } = loopbackClient(() => port, 'email-verification-required-test')

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

beforeAll(async () => {
  catcher = await startMailCatcher()
  process.env.ADMIN_EMAIL = 'admin@example.com'
  process.env.ADMIN_PASSWORD = randomBytes(18).toString('base64url')
  process.env.BCRYPT_COST = '10'
  process.env.LOGIN_MAX_FAILURES = String(MAX_FAILURES)
  process.env.PASSWORD_RESET_EMAIL_LIMIT = String(EMAIL_LIMIT)
  process.env.PASSWORD_RESET_IP_LIMIT = String(IP_LIMIT)
  process.env.PRODUCT_NAME = 'Past Questions Test'
  process.env.EMAIL_VERIFICATION = 'required'
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

const tokenRequest = (form: Record<string, string>) =>
  new Promise<Answer>((resolve, reject) => {
    const payload = new URLSearchParams(form).toString()
    const outgoing = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/api/v1/auth/token',
        localAddress: newAddress(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      },
      (response) => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
          }),
        )
      },
    )
    outgoing.on('error', reject)
    outgoing.end(payload)
  })

describe('EMAIL_VERIFICATION=required', () => {
  it('mails a code at registration; 403 after the right password, 401 after a wrong one; verified, the login works', async () => {
    const email = uniqueEmail()
    await register(email, 'first password 1')
    // The code is mailed at once, with no request of the user's.
    const code = await newestCode(email)

    expect(await logIn(email, 'first password 1')).toMatchObject({
      status: 403,
      body: { detail: 'Email not verified' },
    })
    expect(await logIn(email, 'wrong password 1')).toMatchObject(WRONG_LOGIN)
    expect(
      await tokenRequest({ grant_type: 'password', username: email, password: 'first password 1' }),
    ).toMatchObject({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'Email not verified' },
    })
    expect(
      await tokenRequest({ grant_type: 'password', username: email, password: 'wrong password 1' }),
    ).toMatchObject({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'Incorrect email or password' },
    })

    expect(await confirmCode(email, code)).toMatchObject({ status: 200, body: { email_verified: true } })
    const pair = await session(email, 'first password 1')
    expect(claims(pair.access_token).email_verified).toBe(true)
    expect(
      await tokenRequest({ grant_type: 'password', username: email, password: 'first password 1' }),
    ).toMatchObject({ status: 200 })
  })

  it('lets an unverified user ask for a new code without signing in, and the newest one verifies', async () => {
    const email = uniqueEmail()
    await register(email, 'first password 1')
    await newestCode(email, 1)
    expect(await requestCode(email)).toMatchObject(ACCEPTED)
    const code = await newestCode(email, 2)
    expect(await confirmCode(email, code)).toMatchObject({ status: 200 })
    expect(await logIn(email, 'first password 1')).toMatchObject({ status: 200 })
  })

  it('does not count the right password of an unverified account towards the lock', async () => {
    const email = uniqueEmail()
    await register(email, 'first password 1')
    const code = await newestCode(email)
    for (let i = 0; i < MAX_FAILURES + 2; i++)
      expect((await logIn(email, 'first password 1')).status).toBe(403)
    await confirmCode(email, code)
    expect(await logIn(email, 'first password 1')).toMatchObject({ status: 200 })
  })
})
