/**
 * Study preferences over HTTP, against the local stack as `npm start` builds it: two students each reading and
 * writing only their own; a deactivated student's preferences unreachable, a deleted one's gone. Row-level security
 * itself is proven in test/integration/row-level-security.test.ts.
 */
import { randomBytes } from 'node:crypto'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DatabaseHandle } from '#db/client'
import { type LocalStack, startLocalStack } from '#infra/local/local-stack'
import { stackDatabase } from '#test/helpers/local-stack'

const PASSWORD = 'correct horse battery'
const ADMIN_EMAIL = 'admin@example.com'
const ADMIN_PASSWORD = randomBytes(18).toString('base64url')

let stack: LocalStack
let api: string
let database: DatabaseHandle

beforeAll(async () => {
  process.env.ADMIN_EMAIL = ADMIN_EMAIL
  process.env.ADMIN_PASSWORD = ADMIN_PASSWORD
  process.env.BCRYPT_COST = '10'
  process.env.REGISTER_RATE_LIMIT = '1000'
  stack = await startLocalStack({ setup: 'functions', server: {} })
  if (!stack.server) throw new Error('the stack serves no API')
  api = `${stack.server.url}/api/v1`
  database = stackDatabase(stack)
}, 120_000)

afterAll(async () => {
  await database?.close()
  await stack?.stop()
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
  return { status: response.status, body: text ? JSON.parse(text) : undefined }
}

async function student() {
  const email = `student.${randomBytes(4).toString('hex')}@example.com`
  const registered = await send('POST', '/auth/register', { body: { email, password: PASSWORD } })
  expect(registered.status).toBe(201)
  const login = await send('POST', '/auth/login', { body: { email, password: PASSWORD } })
  return {
    id: (registered.body as { id: number }).id,
    token: (login.body as { access_token: string }).access_token,
  }
}

describe('GET and PUT /users/me/preferences over HTTP', () => {
  it('two students each read and write only their own', async () => {
    const [ada, ben] = [await student(), await student()]
    expect(await send('GET', '/users/me/preferences', { token: ada.token })).toMatchObject({
      status: 200,
      body: { exam_board: null, subjects: [], updated_at: null },
    })
    const body = { exam_board: 'WAEC', subjects: ['Physics', 'Further Mathematics'] }
    expect(await send('PUT', '/users/me/preferences', { token: ada.token, body })).toMatchObject({
      status: 200,
      body,
    })
    expect(
      await send('PUT', '/users/me/preferences', {
        token: ben.token,
        body: { exam_board: 'NECO', subjects: ['Biology'] },
      }),
    ).toMatchObject({ status: 200 })
    expect((await send('GET', '/users/me/preferences', { token: ada.token })).body).toMatchObject(body)
    expect((await send('GET', '/users/me/preferences', { token: ben.token })).body).toMatchObject({
      exam_board: 'NECO',
      subjects: ['Biology'],
    })
    expect(
      await send('PUT', '/users/me/preferences', { token: ben.token, body: { subjects: [] } }),
    ).toMatchObject({
      status: 422,
    })
  })

  it('a deactivated student’s preferences are unreachable, a deleted one’s gone', async () => {
    const [cal, dee] = [await student(), await student()]
    for (const { token } of [cal, dee])
      expect(
        (await send('PUT', '/users/me/preferences', { token, body: { exam_board: 'WAEC', subjects: [] } }))
          .status,
      ).toBe(200)
    const admin = (
      await send('POST', '/auth/login', { body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } })
    ).body as { access_token: string }
    expect(
      (
        await send('PATCH', `/admin/users/${cal.id}`, {
          token: admin.access_token,
          body: { is_active: false },
        })
      ).status,
    ).toBe(200)
    expect((await send('GET', '/users/me/preferences', { token: cal.token })).status).toBe(401)
    expect(
      (await send('DELETE', '/users/me', { token: dee.token, body: { current_password: PASSWORD } })).status,
    ).toBe(204)
    const left = await database.db.execute<{ user_id: number }>(
      sql`select user_id from user_preferences where user_id in (${cal.id}, ${dee.id})`,
    )
    expect(left.rows).toEqual([{ user_id: cal.id }])
  })
})
