/**
 * The blocklist of new passwords from outside, over HTTP, against the local stack as `npm start` builds it (MailDev
 * catching the reset mail): register, a reset's confirm and a password change refuse a listed password with a 422
 * that says why, and change nothing; a strong password passes; a login never asks the list.
 */
import { randomBytes } from 'node:crypto'
import { request } from 'node:http'
import bcrypt from 'bcryptjs'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DatabaseHandle } from '#db/client'
import { type LocalStack, startLocalStack } from '#infra/local/local-stack'
import { type MailCatcher, startMailCatcher } from '#infra/local/mail-catcher'
import { uniqueEmail } from '#test/helpers/events'
import { stackDatabase } from '#test/helpers/local-stack'

interface Answer {
  status: number
  body: unknown
}

const RESET_URL = 'https://app.example.test/reset-password?token={token}'
const LINK = /https:\/\/app\.example\.test\/reset-password\?token=([A-Za-z0-9_-]+)/
/** On the list (the last two as typed there, the first two in another case than the list's). */
const LISTED = ['password123', 'Password123', 'qwertyuiop', 'iloveyou1']
const WHY =
  'This password is on a list of common and breached passwords, which attackers try first; choose another'
const refused = (field: string) => ({
  status: 422,
  body: { detail: [{ loc: ['body', field], msg: WHY, type: 'value_error' }] },
})
const strongPassword = () => randomBytes(18).toString('base64url')

let stack: LocalStack
let catcher: MailCatcher
let port: number
let database: DatabaseHandle

/** Each request its own loopback address, so that no per-address limit is reached by this file's requests. */
let nextAddress = 10
const newAddress = () => `127.1.${Math.floor(nextAddress / 250)}.${(nextAddress++ % 250) + 2}`

function call(method: string, path: string, { body, token }: { body?: unknown; token?: string } = {}) {
  const payload = body === undefined ? undefined : JSON.stringify(body)
  return new Promise<Answer>((resolve, reject) => {
    const outgoing = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: `/api/v1${path}`,
        localAddress: newAddress(),
        headers: {
          ...(payload ? { 'content-type': 'application/json' } : {}),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      },
      (response) => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          resolve({ status: response.statusCode ?? 0, body: text ? JSON.parse(text) : undefined })
        })
      },
    )
    outgoing.on('error', reject)
    outgoing.end(payload)
  })
}

const register = (email: string, password: string) =>
  call('POST', '/auth/register', { body: { email, password } })
const logIn = (email: string, password: string) => call('POST', '/auth/login', { body: { email, password } })
async function accessToken(email: string, password: string): Promise<string> {
  const answer = await logIn(email, password)
  expect(answer.status).toBe(200)
  return (answer.body as { access_token: string }).access_token
}

beforeAll(async () => {
  catcher = await startMailCatcher()
  process.env.ADMIN_EMAIL = 'admin@example.com'
  process.env.ADMIN_PASSWORD = randomBytes(18).toString('base64url')
  process.env.BCRYPT_COST = '10'
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

describe('a new password on the blocklist', () => {
  it('is refused at registration with a 422 that says why, and no account is made; a strong one is accepted', async () => {
    const email = uniqueEmail('blocklist-register')
    for (const password of LISTED) expect(await register(email, password)).toMatchObject(refused('password'))
    const accounts = await database.db.execute(sql`select 1 from users where email = ${email}`)
    expect(accounts.rows).toEqual([])

    const password = strongPassword()
    expect(await register(email, password)).toMatchObject({ status: 201 })
    expect(await logIn(email, password)).toMatchObject({ status: 200 })
  })

  it('is refused by a password change, which leaves the password as it was; a strong one is set', async () => {
    const email = uniqueEmail('blocklist-change')
    const current = strongPassword()
    expect(await register(email, current)).toMatchObject({ status: 201 })
    const token = await accessToken(email, current)
    for (const password of LISTED) {
      const answer = await call('POST', '/users/me/password', {
        token,
        body: { current_password: current, new_password: password },
      })
      expect(answer).toMatchObject(refused('new_password'))
      expect(await logIn(email, password)).toMatchObject({ status: 401 })
    }
    expect(await logIn(email, current)).toMatchObject({ status: 200 })

    const next = strongPassword()
    const changed = await call('POST', '/users/me/password', {
      token,
      body: { current_password: current, new_password: next },
    })
    expect(changed.status).toBe(204)
    expect(await logIn(email, next)).toMatchObject({ status: 200 })
  })

  it('is refused by a reset’s confirm, which leaves the link usable; a strong one is set with it', async () => {
    const email = uniqueEmail('blocklist-reset')
    const old = strongPassword()
    expect(await register(email, old)).toMatchObject({ status: 201 })
    expect(await call('POST', '/auth/password-reset', { body: { email } })).toMatchObject({ status: 202 })
    const mail = await catcher.waitFor(email, (caught) => caught.subject.includes('Reset'))
    const link = LINK.exec(mail.text)?.[1]
    if (!link) throw new Error('no link in the reset mail')

    for (const password of LISTED) {
      const answer = await call('POST', '/auth/password-reset/confirm', {
        body: { token: link, new_password: password },
      })
      expect(answer).toMatchObject(refused('new_password'))
    }
    expect(await logIn(email, old)).toMatchObject({ status: 200 })

    const next = strongPassword()
    const confirmed = await call('POST', '/auth/password-reset/confirm', {
      body: { token: link, new_password: next },
    })
    expect(confirmed.status).toBe(204)
    expect(await logIn(email, next)).toMatchObject({ status: 200 })
  })
})

describe('a login', () => {
  it('never asks the blocklist: a listed password set before it existed still logs in', async () => {
    const email = uniqueEmail('blocklist-login')
    // As a carried-over account or one registered before the list: the hash is written directly.
    const hash = await bcrypt.hash('Password123', 10)
    await database.db.execute(sql`insert into users (email, hashed_password) values (${email}, ${hash})`)
    expect(await logIn(email, 'Password123')).toMatchObject({ status: 200 })
    expect(await logIn(email, 'password123')).toMatchObject({ status: 401 })
  })
})
