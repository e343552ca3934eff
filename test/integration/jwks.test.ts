import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type LocalStack, startLocalStack } from '#infra/local/local-stack'
import { publishedKeys } from '#shared/domain/signing-keys'
import { uniqueEmail } from '#test/helpers/events'
import { testSigningKeys } from '#test/helpers/keys'

let stack: LocalStack
let base: string

beforeAll(async () => {
  process.env.ADMIN_EMAIL = 'jwks-admin@example.com'
  process.env.ADMIN_PASSWORD = 'a jwks admin password'
  stack = await startLocalStack({ setup: 'functions', server: {} })
  if (!stack.server) throw new Error('the stack serves no API')
  base = stack.server.url
  // As `npm start` does: the issuer is the local server, set before any API function reads its settings.
  process.env.JWT_ISSUER = base
}, 90_000)
afterAll(() => stack?.stop())

const get = async (path: string) => {
  const response = await fetch(`${base}${path}`)
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, unknown>,
  }
}

const post = async (path: string, body: unknown) => {
  const response = await fetch(`${base}/api/v1${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

describe('the issuer’s documents, served by the local server', () => {
  it('discovery names the issuer, its keys and its token endpoint, with the fields OpenID Connect Discovery requires', async () => {
    const { status, headers, body } = await get('/.well-known/openid-configuration')
    expect(status).toBe(200)
    expect(headers.get('cache-control')).toBe('public, max-age=300')
    expect(body).toEqual({
      issuer: base,
      jwks_uri: `${base}/.well-known/jwks.json`,
      token_endpoint: `${base}/api/v1/auth/token`,
      grant_types_supported: ['password', 'refresh_token'],
      response_types_supported: [],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
      token_endpoint_auth_methods_supported: ['none'],
    })
  })

  it('jwks publishes the current and next public keys, and nothing private', async () => {
    const { status, headers, body } = await get('/.well-known/jwks.json')
    expect(status).toBe(200)
    expect(headers.get('content-type')).toBe('application/json')
    expect(headers.get('cache-control')).toBe('public, max-age=300')
    const keys = testSigningKeys()
    expect(body).toEqual({ keys: publishedKeys(keys) })
    const kids = (body.keys as { kid: string }[]).map((key) => key.kid)
    expect(kids).toEqual([keys.current.kid, keys.next.kid])
    for (const key of body.keys as Record<string, unknown>[]) {
      expect(Object.keys(key).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use'])
      expect(key).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig' })
    }
  })

  it("a login's access token verifies with the keys fetched from jwks_uri, for the issuer and audience", async () => {
    const email = uniqueEmail('jwks')
    const password = 'correct horse battery'
    expect((await post('/auth/register', { email, password })).status).toBe(201)
    const login = await post('/auth/login', { email, password })
    expect(login.status).toBe(200)
    const token = String(login.body.access_token)

    const discovery = (await get('/.well-known/openid-configuration')).body
    const jwks = createRemoteJWKSet(new URL(String(discovery.jwks_uri)))
    const { payload, protectedHeader } = await jwtVerify(token, jwks, {
      issuer: String(discovery.issuer),
      audience: 'papa-api-test',
      algorithms: ['RS256'],
      typ: 'at+jwt',
    })
    expect(protectedHeader).toEqual({ alg: 'RS256', typ: 'at+jwt', kid: testSigningKeys().current.kid })
    expect(payload).toMatchObject({ iss: base, client_id: 'papa-app', sid: expect.any(String) })
    expect(decodeProtectedHeader(token).kid).toBe(testSigningKeys().current.kid)

    // And the same token, verified against another issuer, is refused: the issuer is checked, not only the key.
    await expect(
      jwtVerify(token, jwks, { issuer: 'https://elsewhere.example', audience: 'papa-api-test' }),
    ).rejects.toThrow(/iss/)
  })
})
