/**
 * Every route's declared callers (`functions/routes.ts`), checked against what the local stack answers over HTTP:
 * without a token, with a plain user's, with a superuser's, and, on a superuser's route, with a superuser's whose
 * login is too old. One walk over the route table, so a new route is covered by being declared. The OpenAPI
 * document's security and 401/403 answers must say the same.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DatabaseHandle } from '#db/client'
import { type Route, routes } from '#functions/routes'
import { type LocalStack, startLocalStack } from '#infra/local/local-stack'
import type { OpenApiDocument } from '#shared/http/openapi'
import { uniqueEmail } from '#test/helpers/events'
import { stackDatabase } from '#test/helpers/local-stack'

const ADMIN_EMAIL = 'admin@example.com'
const ADMIN_PASSWORD = randomBytes(18).toString('base64url')
const PASSWORD = 'correct horse battery'

let stack: LocalStack
let origin: string
let document: OpenApiDocument
let plainEmail: string
let database: DatabaseHandle

beforeAll(async () => {
  process.env.ADMIN_EMAIL = ADMIN_EMAIL
  process.env.ADMIN_PASSWORD = ADMIN_PASSWORD
  process.env.BCRYPT_COST = '10'
  stack = await startLocalStack({ setup: 'functions', server: {} })
  if (!stack.server) throw new Error('the stack serves no API')
  origin = stack.server.url
  database = stackDatabase(stack)
  document = (await (await fetch(`${origin}/api/v1/openapi.json`)).json()) as OpenApiDocument
  plainEmail = uniqueEmail('plain')
  const registered = await post('/api/v1/auth/register', { email: plainEmail, password: PASSWORD })
  expect(registered.status).toBe(201)
})

afterAll(async () => {
  await database?.close()
  await stack?.stop()
})

async function post(path: string, body: unknown) {
  return fetch(`${origin}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
}

/** A fresh access token of its own session, so a route that ends sessions cannot disturb the next one. */
async function accessToken(email: string, password: string): Promise<string> {
  const answer = await post('/api/v1/auth/login', { email, password })
  expect(answer.status).toBe(200)
  return ((await answer.json()) as { access_token: string }).access_token
}

let stale: Promise<string> | undefined
/**
 * The superuser's access token from a login two hours ago, renewed by a refresh since: valid, but too old for an admin
 * route (`ADMIN_MAX_AUTH_AGE_SECONDS`, an hour by default). Its own session, so no other login ages.
 */
const staleAdminToken = () =>
  (stale ??= (async () => {
    const answer = await post('/api/v1/auth/login', { email: ADMIN_EMAIL, password: ADMIN_PASSWORD })
    const { access_token, refresh_token } = (await answer.json()) as {
      access_token: string
      refresh_token: string
    }
    const { sid } = JSON.parse(
      Buffer.from(access_token.split('.')[1] ?? '', 'base64url').toString('utf8'),
    ) as {
      sid: string
    }
    await database.db.execute(
      sql`update sessions set created_at = now() - interval '2 hours' where id = ${sid}`,
    )
    const refreshed = await post('/api/v1/auth/refresh', { refresh_token })
    expect(refreshed.status).toBe(200)
    return ((await refreshed.json()) as { access_token: string }).access_token
  })())

/** The route asked as a client would, its path parameters filled with ids that exist nowhere. */
async function ask(route: Route, token?: string) {
  const path = route.path.replace(/\{\w+\}/g, () => randomUUID())
  const withBody = route.method === 'POST'
  const answer = await fetch(`${origin}${path}`, {
    method: route.method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(withBody ? { 'content-type': 'application/json' } : {}),
    },
    ...(withBody ? { body: '{}' } : {}),
  })
  const text = await answer.text()
  const json = text !== '' && answer.headers.get('content-type')?.startsWith('application/json')
  return { status: answer.status, headers: answer.headers, body: json ? (JSON.parse(text) as unknown) : null }
}

const operation = (route: Route) =>
  document.paths[route.path]?.[route.method.toLowerCase()] as
    | { security: unknown[]; responses: Record<string, unknown> }
    | undefined

/** A success, or a client error the route's operation documents (a documentation route has no operation). */
function expectAnsweredAsDocumented(route: Route, status: number) {
  if (status >= 200 && status < 300) return
  expect(status, `${route.method} ${route.path} answered ${status}`).toBeGreaterThanOrEqual(400)
  expect(status).toBeLessThan(500)
  expect(Object.keys(operation(route)?.responses ?? {}), `${route.method} ${route.path}`).toContain(
    String(status),
  )
}

const NOT_AUTHENTICATED = { detail: 'Not authenticated' }
const NOT_PRIVILEGED = { detail: "The user doesn't have enough privileges" }

describe('who may call each route, as declared', () => {
  it('walks a table that has a route of every kind of caller the API serves now', () => {
    const kinds = new Set(routes.map((route) => route.callers))
    expect([...kinds].sort()).toEqual(expect.arrayContaining(['anyone', 'session', 'superuser', 'token']))
  })

  it.each(routes.map((route) => [`${route.method} ${route.path} (${route.callers})`, route] as const))(
    '%s',
    async (_name, route) => {
      const anonymous = await ask(route)
      const plain = () => accessToken(plainEmail, PASSWORD)
      const admin = () => accessToken(ADMIN_EMAIL, ADMIN_PASSWORD)
      switch (route.callers) {
        case 'anyone':
          expect([401, 403]).not.toContain(anonymous.status)
          expectAnsweredAsDocumented(route, anonymous.status)
          break
        case 'session': {
          expect(anonymous).toMatchObject({ status: 401, body: NOT_AUTHENTICATED })
          expect(anonymous.headers.get('www-authenticate')).toBe('Bearer')
          for (const token of [await plain(), await admin()]) {
            const answer = await ask(route, token)
            expect([401, 403]).not.toContain(answer.status)
            expectAnsweredAsDocumented(route, answer.status)
          }
          break
        }
        case 'superuser': {
          expect(anonymous).toMatchObject({ status: 401, body: NOT_AUTHENTICATED })
          expect(await ask(route, await plain())).toMatchObject({ status: 403, body: NOT_PRIVILEGED })
          const answer = await ask(route, await admin())
          expect([401, 403]).not.toContain(answer.status)
          expectAnsweredAsDocumented(route, answer.status)
          // A superuser, but of a login too old: RFC 9470's answer, as the document states it with its max_age.
          const tooOld = await ask(route, await staleAdminToken())
          expect(tooOld).toMatchObject({ status: 401, body: { detail: 'A more recent login is required' } })
          const challenge = tooOld.headers.get('www-authenticate') ?? ''
          expect(challenge).toMatch(
            /^Bearer error="insufficient_user_authentication", error_description="A more recent login is required", max_age="\d+"$/,
          )
          expect(String(document.components.responses.AdminNotAuthenticated?.description)).toContain(
            challenge,
          )
          expectAnsweredAsDocumented(route, tooOld.status)
          break
        }
        case 'token': {
          // API Gateway's own refusal, which the local server emulates.
          expect(anonymous).toMatchObject({ status: 401, body: { message: 'Unauthorized' } })
          const answer = await ask(route, await plain())
          expect(answer.status).toBe(200)
          break
        }
      }
    },
  )

  it('documents each operation’s security and refusals from the same declaration', () => {
    for (const route of routes.filter((entry) => !entry.docs)) {
      const documented = operation(route)
      const name = `${route.method} ${route.path}`
      expect(documented, name).toBeDefined()
      expect(documented?.security.length === 0, name).toBe(route.callers === 'anyone')
      const refusal = (status: string) => JSON.stringify(documented?.responses[status] ?? {})
      // The refusals the HTTP layer gives before the handler runs: a route's own 401 (a wrong password) is another.
      expect(refusal('401'), name).toEqual(
        route.callers === 'session'
          ? '{"$ref":"#/components/responses/NotAuthenticated"}'
          : route.callers === 'superuser'
            ? // The session's refusals, and a login too old for an admin route.
              '{"$ref":"#/components/responses/AdminNotAuthenticated"}'
            : route.callers === 'token'
              ? '{"$ref":"#/components/responses/TokenRefusedByGateway"}'
              : expect.not.stringContaining('#/components/responses/'),
      )
      expect(refusal('403'), name).toBe(
        route.callers === 'superuser' ? '{"$ref":"#/components/responses/InsufficientPrivileges"}' : '{}',
      )
    }
  })
})
