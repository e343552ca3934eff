/**
 * The client (client/) against the OpenAPI document: its generated types are the document's, it sends the access
 * token to exactly the operations the document secures, and its named calls and `request` reach every operation.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { type AuthClient, createAuthClient } from '#client/src/index'
import { findRoute, routes } from '#functions/routes'
import { buildOpenApiDocument, type OpenApiObject } from '#shared/http/openapi'
import { loadSettings } from '#shared/platform/config'
import { CLIENT_TYPES_FILE, clientTypes, typeOf } from '../../scripts/client-types.ts'

const document = buildOpenApiDocument(routes, loadSettings())
const operations = Object.entries(document.paths).flatMap(([path, methods]) =>
  Object.entries(methods).map(([method, operation]) => ({ path, method, operation })),
)
const secured = (operation: OpenApiObject) => (operation.security as unknown[]).length > 0

/** A client whose every call is answered 200 (a token pair where one is due) and recorded as the route it reached. */
async function recordingClient() {
  const reached: { route: string; authorization: string | null }[] = []
  const client = createAuthClient({
    baseUrl: 'http://api.test',
    name: `types-${Math.random()}`,
    fetch: async (input, init) => {
      const request = new Request(input, init)
      const { pathname } = new URL(request.url)
      const route = findRoute(request.method, pathname)
      reached.push({
        route: route ? `${route.method} ${route.path}` : `${request.method} ${pathname}`,
        authorization: request.headers.get('authorization'),
      })
      const pair = { access_token: 'a', refresh_token: 'r', token_type: 'bearer', expires_in: 900 }
      const issuesPair = /\/auth\/(login|token|refresh)$/.test(pathname)
      return new Response(JSON.stringify(issuesPair ? pair : {}), { status: 200 })
    },
  })
  await client.login({ email: 'alice@example.com', password: 'correct horse' })
  reached.length = 0
  return { client, reached }
}

describe('the client types', () => {
  it('are the ones the OpenAPI document gives (npm run client:types writes them)', () => {
    expect(
      readFileSync(CLIENT_TYPES_FILE, 'utf8'),
      'client/src/openapi.ts is out of date: run npm run client:types',
    ).toBe(clientTypes(document))
  })

  it('refuse a JSON Schema construct they do not know, rather than guess', () => {
    expect(() => typeOf({ type: 'string', not: { const: 'x' } })).toThrow(
      'unsupported JSON Schema keyword not',
    )
    expect(() => typeOf({ type: 'array', prefixItems: [{ type: 'string' }] })).toThrow('open tuple')
    expect(typeOf({ type: 'array', items: { anyOf: [{ type: 'string' }, { type: 'null' }] } })).toBe(
      '(string | null)[]',
    )
    expect(typeOf({ type: 'object', properties: { 'a-b': { const: 'x' } }, required: ['a-b'] })).toBe(
      '{ "a-b": "x" }',
    )
  })
})

describe('the client', () => {
  it('sends the access token to exactly the operations the document secures', async () => {
    const { client, reached } = await recordingClient()
    const request = client.request as (method: string, path: string, input?: object) => Promise<unknown>
    for (const { path, method, operation } of operations) {
      const content = (operation.requestBody as { content: object } | undefined)?.content ?? {}
      await request(method, path, {
        path: { id: 1 },
        ...('application/json' in content ? { body: {} } : {}),
        ...('application/x-www-form-urlencoded' in content ? { form: {} } : {}),
      })
    }
    expect(
      reached.map(({ route, authorization }) => ({ route, bearer: authorization === 'Bearer a' })),
    ).toEqual(
      operations.map(({ path, method, operation }) => ({
        route: `${method.toUpperCase()} ${path}`,
        bearer: secured(operation),
      })),
    )
  })

  it('has a named call for every operation but the admin, health, claims and key routes, which `request` covers', async () => {
    const { client, reached } = await recordingClient()
    const calls: Partial<Record<keyof AuthClient, () => Promise<unknown>>> = {
      register: () => client.register({ email: 'a@b.co', password: 'correct horse' }),
      passwordGrant: () => client.passwordGrant({ username: 'a@b.co', password: 'correct horse' }),
      login: () => client.login({ email: 'a@b.co', password: 'correct horse' }),
      me: () => client.me(),
      changePassword: () => client.changePassword({ current_password: 'a', new_password: 'b' }),
      sessions: () => client.sessions(),
      endSession: () => client.endSession('9b2f6c1e-3d4a-4f5b-8c6d-7e8f9a0b1c2d'),
      requestPasswordReset: () => client.requestPasswordReset({ email: 'a@b.co' }),
      confirmPasswordReset: () => client.confirmPasswordReset({ token: 't', new_password: 'b' }),
      requestEmailVerification: () => client.requestEmailVerification({ email: 'a@b.co' }),
      confirmEmailVerification: () => client.confirmEmailVerification({ email: 'a@b.co', code: '123456' }),
      requestEmailChange: () => client.requestEmailChange({ new_email: 'c@d.co', current_password: 'a' }),
      confirmEmailChange: () => client.confirmEmailChange({ code: '123456' }),
      requestAccountDeletion: () => client.requestAccountDeletion({ email: 'a@b.co' }),
      confirmAccountDeletion: () => client.confirmAccountDeletion({ token: 't' }),
      exportAccount: () => client.exportAccount(),
      preferences: () => client.preferences(),
      savePreferences: () => client.savePreferences({ exam_board: 'WAEC', subjects: ['Physics'] }),
      endAllSessions: () => client.endAllSessions(),
    }
    for (const call of Object.values(calls)) await call?.()
    // The calls that end the session, last, each after a new login.
    await client.login({ email: 'a@b.co', password: 'correct horse' })
    await client.deleteAccount({ current_password: 'a' })
    await client.login({ email: 'a@b.co', password: 'correct horse' })
    await client.refresh()
    await client.logout()

    const named = new Set(reached.map(({ route }) => route))
    const left = operations
      .map(({ path, method }) => `${method.toUpperCase()} ${path}`)
      .filter((route) => !named.has(route))
    expect(left).toEqual([
      'GET /api/v1/admin/users',
      'GET /api/v1/admin/users/{id}',
      'PATCH /api/v1/admin/users/{id}',
      'DELETE /api/v1/admin/users/{id}',
      'DELETE /api/v1/admin/users/{id}/sessions',
      'POST /api/v1/admin/users/{id}/password-reset',
      'GET /api/v1/health',
      'GET /api/v1/auth/claims',
      'GET /.well-known/jwks.json',
      'GET /.well-known/openid-configuration',
    ])
  })
})
