import { createHmac, createPrivateKey, createPublicKey, randomUUID } from 'node:crypto'
import { eq } from 'drizzle-orm'
import { SignJWT } from 'jose'
import { afterAll, describe, expect, it } from 'vitest'
import { users } from '#db/schema'
import { handler as me } from '#functions/me'
import { generateSigningKey } from '#shared/domain/signing-keys'
import { testDatabase } from '#test/helpers/database'
import { apiEvent, bearerEvent, invoke } from '#test/helpers/events'
import { signRs256, testSigningKeys } from '#test/helpers/keys'
import { loggedIn, registeredUser } from '#test/helpers/users'

const ME = '/api/v1/users/me'
const database = testDatabase()
afterAll(() => database.close())

const NOT_AUTHENTICATED = {
  status: 401,
  body: { detail: 'Not authenticated' },
  headers: { 'www-authenticate': 'Bearer' },
}
const INVALID = {
  status: 401,
  body: { detail: 'Could not validate credentials' },
  headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const now = () => Math.floor(Date.now() / 1000)
const claims = (sub: number, overrides: Record<string, unknown> = {}) => ({
  iss: 'https://auth.papa.test',
  aud: 'papa-api-test',
  sub: String(sub),
  client_id: 'papa-app',
  iat: now(),
  exp: now() + 600,
  jti: randomUUID(),
  ...overrides,
})
const keys = testSigningKeys()
/** Signed RS256 by the current key with its `kid`, as the service signs, unless the header or key says otherwise. */
const sign = (
  payload: Record<string, unknown>,
  header: Record<string, unknown> = { alg: 'RS256', typ: 'at+jwt', kid: keys.current.kid },
  key = keys.current,
) => signRs256(payload, header, key)
/** A key of nobody's set, made for the forgeries. */
const outsider = generateSigningKey(new Date())

describe('GET /users/me', () => {
  it('answers the User for a valid access token, whatever the case of the scheme', async () => {
    const user = await registeredUser()
    const { access_token } = await loggedIn(user)
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      const response = await invoke(me, bearerEvent(ME, access_token, scheme))
      expect(response.status).toBe(200)
      expect(response.body).toEqual({
        id: user.id,
        email: user.email,
        username: null,
        is_active: true,
        is_superuser: false,
        email_verified: false,
        created_at: expect.any(String),
        updated_at: expect.any(String),
      })
    }
  })

  it('answers Not authenticated without a header, or with another scheme', async () => {
    expect(await invoke(me, apiEvent('GET', ME))).toMatchObject(NOT_AUTHENTICATED)
    expect(await invoke(me, bearerEvent(ME, 'Og==', 'Basic'))).toMatchObject(NOT_AUTHENTICATED)
    expect(
      await invoke(me, apiEvent('GET', ME, undefined, { headers: { authorization: '' } })),
    ).toMatchObject(NOT_AUTHENTICATED)
  })

  it('refuses a refresh token as a Bearer token', async () => {
    const { refresh_token } = await loggedIn(await registeredUser())
    expect(await invoke(me, bearerEvent(ME, refresh_token))).toMatchObject(INVALID)
  })

  it('accepts a token forged as the service signs, by the current key or the next (so each refusal below tests one change)', async () => {
    const user = await registeredUser()
    const byCurrent = sign(claims(user.id))
    const byNext = sign(claims(user.id), { alg: 'RS256', typ: 'at+jwt', kid: keys.next.kid }, keys.next)
    for (const token of [byCurrent, byNext]) {
      expect(await invoke(me, bearerEvent(ME, token))).toMatchObject({ status: 200, body: { id: user.id } })
    }
  })

  describe('refuses forged and broken tokens', () => {
    it('alg: none', async () => {
      const user = await registeredUser()
      const token = `${base64url({ alg: 'none', typ: 'at+jwt', kid: keys.current.kid })}.${base64url(claims(user.id))}.`
      expect(await invoke(me, bearerEvent(ME, token))).toMatchObject(INVALID)
    })

    it('HS256, with any secret: a random one, or the public key itself (algorithm confusion)', async () => {
      const user = await registeredUser()
      const header = { alg: 'HS256', typ: 'at+jwt', kid: keys.current.kid }
      const publicPem = createPublicKey(keys.current.privateKey)
        .export({ type: 'spki', format: 'pem' })
        .toString()
      for (const secret of ['a-different-secret-of-at-least-32-bytes!', publicPem]) {
        const token = await new SignJWT(claims(user.id))
          .setProtectedHeader(header)
          .sign(new TextEncoder().encode(secret))
        expect(await invoke(me, bearerEvent(ME, token))).toMatchObject(INVALID)
      }
    })

    it('another algorithm with the right key (RS512, PS256)', async () => {
      const user = await registeredUser()
      const privateKey = createPrivateKey(keys.current.privateKey)
      for (const alg of ['RS512', 'PS256']) {
        const token = await new SignJWT(claims(user.id))
          .setProtectedHeader({ alg, typ: 'at+jwt', kid: keys.current.kid })
          .sign(privateKey)
        expect(await invoke(me, bearerEvent(ME, token))).toMatchObject(INVALID)
      }
    })

    it('a key not in the set, under the kid of one that is', async () => {
      const user = await registeredUser()
      const token = sign(claims(user.id), undefined, outsider)
      expect(await invoke(me, bearerEvent(ME, token))).toMatchObject(INVALID)
    })

    it('an unknown kid (the key that signed it, unpublished)', async () => {
      const user = await registeredUser()
      const token = sign(claims(user.id), { alg: 'RS256', typ: 'at+jwt', kid: outsider.kid }, outsider)
      expect(await invoke(me, bearerEvent(ME, token))).toMatchObject(INVALID)
    })

    it('no kid, though signed by the current key', async () => {
      const user = await registeredUser()
      const token = sign(claims(user.id), { alg: 'RS256', typ: 'at+jwt' })
      expect(await invoke(me, bearerEvent(ME, token))).toMatchObject(INVALID)
    })

    it('a tampered payload (another user id, signature kept)', async () => {
      const victim = await registeredUser()
      const attacker = await registeredUser()
      const { access_token } = await loggedIn(attacker)
      const [header, , signature] = access_token.split('.')
      const forged = `${header}.${base64url(claims(victim.id))}.${signature}`
      expect(await invoke(me, bearerEvent(ME, forged))).toMatchObject(INVALID)
    })

    it('an expired token', async () => {
      const user = await registeredUser()
      const token = sign(claims(user.id, { iat: now() - 1000, exp: now() - 10 }))
      expect(await invoke(me, bearerEvent(ME, token))).toMatchObject(INVALID)
    })

    it.each([
      ['no exp', { exp: undefined }],
      ['the wrong issuer', { iss: 'https://someone-else.example' }],
      ['the wrong audience', { aud: 'another-api' }],
      ['a non-numeric subject', { sub: 'admin' }],
    ])('a token with %s', async (_label, overrides) => {
      const user = await registeredUser()
      const token = sign(claims(user.id, overrides))
      expect(await invoke(me, bearerEvent(ME, token))).toMatchObject(INVALID)
    })

    it.each([
      ['JWT instead of at+jwt', { typ: 'JWT' }],
      ['missing', {}],
    ])('a token whose typ is %s, signature right', async (_label, typ) => {
      const user = await registeredUser()
      const token = sign(claims(user.id), { alg: 'RS256', kid: keys.current.kid, ...typ })
      expect(await invoke(me, bearerEvent(ME, token))).toMatchObject(INVALID)
    })

    it('a hand-made HS256 token keyed with the kid itself', async () => {
      const user = await registeredUser()
      const unsigned = `${base64url({ alg: 'HS256', typ: 'at+jwt', kid: keys.current.kid })}.${base64url(claims(user.id))}`
      const signature = createHmac('sha256', keys.current.kid).update(unsigned).digest('base64url')
      expect(await invoke(me, bearerEvent(ME, `${unsigned}.${signature}`))).toMatchObject(INVALID)
    })

    it.each([['garbage'], ['a.b.c'], ['']])('the string %j', async (token) => {
      expect(await invoke(me, bearerEvent(ME, token))).toMatchObject(INVALID)
    })
  })

  it('answers Could not validate credentials once the user is inactive or gone', async () => {
    const inactive = await registeredUser()
    const inactiveToken = (await loggedIn(inactive)).access_token
    await database.db.update(users).set({ isActive: false }).where(eq(users.id, inactive.id))
    expect(await invoke(me, bearerEvent(ME, inactiveToken))).toMatchObject(INVALID)

    const gone = await registeredUser()
    const goneToken = (await loggedIn(gone)).access_token
    await database.db.delete(users).where(eq(users.id, gone.id))
    expect(await invoke(me, bearerEvent(ME, goneToken))).toMatchObject(INVALID)
  })
})
