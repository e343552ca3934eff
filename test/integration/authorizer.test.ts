/**
 * API Gateway's JWT authorizer as the local server emulates it, on the routes declared `callers: 'token'` (the sample
 * `GET /api/v1/auth/claims`). What AWS documents (developer guide, "Control access to HTTP APIs with JWT authorizers"
 * and "Troubleshooting issues with HTTP API JWT authorizers"): any refusal is 401 `{"message":"Unauthorized"}`, with
 * `www-authenticate: Bearer scope="" error="invalid_token" error_description="…"` when a token was sent; a token
 * passes on an RSA signature by the published key its `kid` names, `iss`, `aud` (`client_id` when there is no
 * `aud`), `exp`, `nbf` and `iat`; the function then reads the claims, as strings, in `requestContext.authorizer.jwt`.
 */
import { randomUUID } from 'node:crypto'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { importPKCS8, SignJWT } from 'jose'
import * as v from 'valibot'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { handler as claimsHandler } from '#functions/claims'
import { API_BASE_PATH, findRoute } from '#functions/routes'
import type { JwtAuthorizerSettings } from '#infra/local/authorizer'
import { createLocalServer } from '#infra/local/server'
import { generateSigningKey, parseSigningKeySet, type SigningKey } from '#shared/domain/signing-keys'
import { JWKS_PATH } from '#shared/http/discovery'
import { AccessTokenClaimsSchema, GatewayUnauthorizedSchema } from '#shared/http/openapi'
import { loadSettings } from '#shared/platform/config'
import { apiEvent, invoke, jsonEvent } from '#test/helpers/events'

const CLAIMS = `${API_BASE_PATH}/auth/claims`
/** The functions' own settings: the stack gives the authorizer the same issuer and audience. */
const { JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE } = loadSettings()
const UNAUTHORIZED = { message: 'Unauthorized' }
const invalidToken = (description: string) =>
  `Bearer scope="" error="invalid_token" error_description="${description}"`

const now = () => Math.floor(Date.now() / 1000)
/** An access token's claims as the service issues them (API contract, Tokens). */
const accessClaims = (overrides: Record<string, unknown> = {}) => ({
  iss: ISSUER,
  aud: AUDIENCE,
  sub: '42',
  sid: randomUUID(),
  client_id: 'papa-app',
  iat: now() - 5,
  exp: now() + 600,
  jti: randomUUID(),
  ...overrides,
})

async function sign(
  key: SigningKey,
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {},
): Promise<string> {
  const privateKey = await importPKCS8(key.privateKey, 'RS256')
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: key.kid, ...header })
    .sign(privateKey)
}

/** A local server on a free port; `get` sends a GET with the given Authorization header (none if undefined). */
function localServer(authorizer?: JwtAuthorizerSettings) {
  let server: Server
  let url = ''
  beforeAll(async () => {
    server = createLocalServer(authorizer ? { authorizer } : {})
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    server.closeAllConnections()
    await new Promise((done) => server.close(done))
  })
  return async (authorization?: string, path = CLAIMS) => {
    const response = await fetch(`${url}${path}`, {
      headers: authorization === undefined ? {} : { authorization },
    })
    const raw = await response.text()
    return {
      status: response.status,
      headers: Object.fromEntries(response.headers),
      body: raw === '' ? undefined : (JSON.parse(raw) as unknown),
    }
  }
}

describe('a route marked auth: jwt, through the local API Gateway', () => {
  const published = generateSigningKey(new Date())
  const foreign = generateSigningKey(new Date())
  const get = localServer({ issuer: ISSUER, audience: AUDIENCE, keys: async () => [published.publicJwk] })

  it('is the sample claims route, and the only one', () => {
    expect(findRoute('GET', CLAIMS)).toEqual({
      method: 'GET',
      path: CLAIMS,
      function: 'claims',
      callers: 'token',
    })
  })

  it('answers 401 {"message":"Unauthorized"} with WWW-Authenticate: Bearer when no token is sent', async () => {
    for (const authorization of [undefined, '', 'Bearer ']) {
      const response = await get(authorization)
      expect(response, String(authorization)).toMatchObject({
        status: 401,
        body: UNAUTHORIZED,
        headers: { 'content-type': 'application/json', 'www-authenticate': 'Bearer' },
      })
    }
  })

  it.each([
    ['a malformed token', async () => 'not-a-jwt', 'the token is malformed'],
    [
      'an expired token',
      async () => sign(published, accessClaims({ iat: now() - 1200, exp: now() - 600 })),
      'the token has expired',
    ],
    [
      'a token signed by a key the service does not publish',
      async () => sign(foreign, accessClaims()),
      'the token was not signed by a key of the issuer',
    ],
    [
      'a token signed by another key under a published kid',
      async () => sign(foreign, accessClaims(), { kid: published.kid }),
      'the token signature is invalid',
    ],
    [
      'a token for another audience',
      async () => sign(published, accessClaims({ aud: 'another-api' })),
      'the token does not have a valid audience',
    ],
    [
      'a token of another issuer',
      async () => sign(published, accessClaims({ iss: 'https://issuer.example' })),
      'the token does not have a valid issuer',
    ],
    [
      'a token signed with a secret (HS256)',
      async () =>
        new SignJWT(accessClaims())
          .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: published.kid })
          .sign(new TextEncoder().encode('a shared secret of at least thirty-two bytes')),
      'the token is not signed with a supported algorithm',
    ],
    [
      'a token not valid yet',
      async () => sign(published, accessClaims({ nbf: now() + 300 })),
      'the token is not valid yet',
    ],
  ])('answers 401 to %s, before the function runs', async (_case, token, description) => {
    const response = await get(`Bearer ${await token()}`)
    expect(response).toEqual({
      status: 401,
      body: UNAUTHORIZED,
      headers: expect.objectContaining({
        'content-type': 'application/json',
        'www-authenticate': invalidToken(description),
      }),
    })
    expect(v.is(GatewayUnauthorizedSchema, response.body)).toBe(true)
    // The function's own headers (nosniff, no-store) are absent: the gateway answered.
    expect(response.headers['x-content-type-options']).toBeUndefined()
  })

  it('passes a valid token, and the function sees the verified claims as API Gateway passes them: strings', async () => {
    const claims = accessClaims()
    for (const authorization of [`Bearer ${await sign(published, claims)}`, await sign(published, claims)]) {
      const response = await get(authorization)
      expect(response.status).toBe(200)
      expect(response.headers).toMatchObject({
        'content-type': 'application/json',
        'x-content-type-options': 'nosniff',
      })
      expect(response.body).toEqual({
        ...claims,
        iat: String(claims.iat),
        exp: String(claims.exp),
      })
      // As the OpenAPI document describes it.
      expect(v.is(AccessTokenClaimsSchema, response.body)).toBe(true)
    }
  })

  it('takes aud from a list, or client_id when there is no aud, as the gateway does', async () => {
    const listed = accessClaims({ aud: ['another-api', AUDIENCE] })
    expect(await get(`Bearer ${await sign(published, listed)}`)).toMatchObject({
      status: 200,
      body: { aud: `[another-api ${AUDIENCE}]` },
    })
    const { aud: _aud, ...withoutAud } = accessClaims({ client_id: AUDIENCE })
    expect(await get(`Bearer ${await sign(published, withoutAud)}`)).toMatchObject({
      status: 200,
      body: { client_id: AUDIENCE },
    })
    const { aud: _other, ...foreignClient } = accessClaims({ client_id: 'another-client' })
    expect((await get(`Bearer ${await sign(published, foreignClient)}`)).status).toBe(401)
  })
})

describe('the claims function, reached without the authorizer', () => {
  it('fails closed: 401 Not authenticated, as the service answers', async () => {
    expect(await invoke(claimsHandler, apiEvent('GET', CLAIMS))).toMatchObject({
      status: 401,
      body: { detail: 'Not authenticated' },
      headers: { 'www-authenticate': 'Bearer' },
    })
  })
})

describe('the default authorizer', () => {
  const get = localServer()
  const keys = parseSigningKeySet(process.env.JWT_SIGNING_KEYS ?? '')

  it('verifies with the keys the service publishes at its JWKS route, and the functions’ issuer and audience', async () => {
    expect(findRoute('GET', JWKS_PATH)).toBeDefined()
    if (!keys) throw new Error('JWT_SIGNING_KEYS is not a signing key set')
    expect((await get(`Bearer ${await sign(keys.current, accessClaims())}`)).status).toBe(200)
    expect((await get(`Bearer ${await sign(keys.next, accessClaims())}`)).status).toBe(200)
    const foreign = await sign(generateSigningKey(new Date()), accessClaims())
    expect(await get(`Bearer ${foreign}`)).toMatchObject({ status: 401, body: UNAUTHORIZED })
  })

  it('lets the token of a logged-out session through until it expires, bare or Bearer, where /users/me refuses it', async () => {
    const { registeredUser, loggedIn } = await import('#test/helpers/users')
    const { handler: logout } = await import('#functions/logout')
    const pair = await loggedIn(await registeredUser())
    const logoutEvent = jsonEvent('/api/v1/auth/logout', { refresh_token: pair.refresh_token })
    expect((await invoke(logout, logoutEvent)).status).toBe(204)

    // What the OpenAPI document says of /auth/claims: the gateway knows nothing of sessions.
    for (const authorization of [`Bearer ${pair.access_token}`, pair.access_token])
      expect((await get(authorization)).status).toBe(200)
    expect((await get(`Bearer ${pair.access_token}`, `${API_BASE_PATH}/users/me`)).status).toBe(401)
  })
})
