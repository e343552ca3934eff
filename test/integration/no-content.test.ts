/**
 * Every 204 of the API, over HTTP through the local server as `npm start` serves it: no body, and so no
 * `Content-Type` (a client that reads the type would expect JSON that is not there). The routes are the ones the
 * OpenAPI document answers 204 on, each arranged here; a new one fails the test until it is.
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { handler as login } from '#functions/login'
import { routes } from '#functions/routes'
import { createLocalServer } from '#infra/local/server'
import { disposeAll } from '#shared/app/memo'
import { hashResetToken, newResetToken } from '#shared/domain/password-reset-service'
import { buildOpenApiDocument } from '#shared/http/openapi'
import { loadSettings } from '#shared/platform/config'
import { testDatabase } from '#test/helpers/database'
import { invoke, jsonEvent } from '#test/helpers/events'
import { registeredUser, type TestUser, type TokenPairBody } from '#test/helpers/users'

const document = buildOpenApiDocument(routes, loadSettings())
const database = testDatabase()
let server: Server
let base: string

beforeAll(async () => {
  server = createLocalServer({ corsOrigins: [] })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  server?.closeAllConnections()
  await new Promise((done) => (server ? server.close(done) : done(undefined)))
  await database.close()
  await disposeAll()
})

/** A user and a login, arranged through the handlers (each from an address of its own, so no limit is spent). */
async function signedIn(): Promise<TestUser & { tokens: TokenPairBody }> {
  const user = await registeredUser()
  const answer = await invoke(login, jsonEvent('/api/v1/auth/login', user))
  expect(answer.status).toBe(200)
  return { ...user, tokens: answer.body as TokenPairBody }
}

async function superuser(): Promise<TokenPairBody> {
  const { id, email, password } = await registeredUser()
  await database.db.execute(sql`update users set is_superuser = true where id = ${id}`)
  const answer = await invoke(login, jsonEvent('/api/v1/auth/login', { email, password }))
  return answer.body as TokenPairBody
}

/** A live single-use token of `table` for `userId`, stored as the mail sender stores one (its hash). */
async function liveLinkToken(
  table: 'password_reset_tokens' | 'account_deletion_tokens',
  userId: number,
): Promise<string> {
  const token = newResetToken()
  await database.db.execute(sql`
    insert into ${sql.identifier(table)} (user_id, token_hash, job_id, requested_at, expires_at)
    values (${userId}, ${hashResetToken(token)}, gen_random_uuid(), now(), now() + interval '30 seconds')`)
  return token
}

interface Request {
  method: string
  path: string
  token?: string
  body?: unknown
}

/** Each function that answers 204, and a request it answers 204 to. */
const ARRANGED: Record<string, () => Promise<Request>> = {
  logout: async () => {
    const { tokens } = await signedIn()
    return { method: 'POST', path: '/api/v1/auth/logout', body: { refresh_token: tokens.refresh_token } }
  },
  'password-reset-confirm': async () => {
    const { id } = await registeredUser()
    const token = await liveLinkToken('password_reset_tokens', id)
    return {
      method: 'POST',
      path: '/api/v1/auth/password-reset/confirm',
      body: { token, new_password: 'a brand new passphrase' },
    }
  },
  'account-deletion-confirm': async () => {
    const { id } = await registeredUser()
    const token = await liveLinkToken('account_deletion_tokens', id)
    return { method: 'POST', path: '/api/v1/auth/account-deletion/confirm', body: { token } }
  },
  'delete-account': async () => {
    const { password, tokens } = await signedIn()
    return {
      method: 'DELETE',
      path: '/api/v1/users/me',
      token: tokens.access_token,
      body: { current_password: password },
    }
  },
  'change-password': async () => {
    const { password, tokens } = await signedIn()
    return {
      method: 'POST',
      path: '/api/v1/users/me/password',
      token: tokens.access_token,
      body: { current_password: password, new_password: 'a brand new passphrase' },
    }
  },
  'end-one-session': async () => {
    const { tokens } = await signedIn()
    const listed = await fetch(`${base}/api/v1/users/me/sessions`, {
      headers: { authorization: `Bearer ${tokens.access_token}` },
    })
    const [session] = (await listed.json()) as { id: string }[]
    return {
      method: 'DELETE',
      path: `/api/v1/users/me/sessions/${session?.id}`,
      token: tokens.access_token,
    }
  },
  'end-all-sessions': async () => {
    const { tokens } = await signedIn()
    return { method: 'DELETE', path: '/api/v1/users/me/sessions', token: tokens.access_token }
  },
  'admin-delete-user': async () => {
    const [{ id }, admin] = await Promise.all([registeredUser(), superuser()])
    return { method: 'DELETE', path: `/api/v1/admin/users/${id}`, token: admin.access_token }
  },
  'admin-end-sessions': async () => {
    const [{ id }, admin] = await Promise.all([signedIn(), superuser()])
    return { method: 'DELETE', path: `/api/v1/admin/users/${id}/sessions`, token: admin.access_token }
  },
}

/** The functions of the operations the document answers 204 on. */
const documented = Object.values(document.paths)
  .flatMap((item) => Object.values(item))
  .filter((operation) => '204' in (operation.responses as object))
  .map((operation) => String(operation.operationId))

describe('a 204, over HTTP through the local server', () => {
  it('is arranged here for every operation the OpenAPI document answers 204 on', () => {
    expect(Object.keys(ARRANGED).sort()).toEqual([...documented].sort())
  })

  it.each(documented)('%s: no body, no Content-Type', async (name) => {
    const arrange = ARRANGED[name]
    if (!arrange) throw new Error(`no request arranged for ${name}`)
    const { method, path, token, body } = await arrange()
    const answer = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    expect(answer.status).toBe(204)
    expect(await answer.text()).toBe('')
    expect(Object.fromEntries(answer.headers)).toEqual({
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      vary: 'origin',
      connection: 'keep-alive',
      'keep-alive': expect.any(String),
      date: expect.any(String),
    })
  })

  it('answers a CORS preflight 204 without one too', async () => {
    const answer = await fetch(`${base}/api/v1/auth/login`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' },
    })
    expect(answer.status).toBe(204)
    expect(answer.headers.get('content-type')).toBeNull()
  })
})
