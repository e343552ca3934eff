import { createHmac, randomUUID } from 'node:crypto'
import { eq } from 'drizzle-orm'
import { SignJWT } from 'jose'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { users } from '#db/schema'
import { handler as me } from '#functions/me'
import { testDatabase } from '#test/helpers/database'
import { apiEvent, bearerEvent, invoke } from '#test/helpers/events'
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
  iss: 'papa-auth-test',
  aud: 'papa-api-test',
  sub: String(sub),
  iat: now(),
  exp: now() + 600,
  jti: randomUUID(),
  ...overrides,
})
const sign = (
  payload: Record<string, unknown>,
  header: Record<string, unknown> = { alg: 'HS256', typ: 'at+jwt' },
  secret = inject('jwtSecret'),
) => new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(new TextEncoder().encode(secret))

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

  describe('refuses forged and broken tokens', () => {
    it('alg: none', async () => {
      const user = await registeredUser()
      const token = `${base64url({ alg: 'none', typ: 'at+jwt' })}.${base64url(claims(user.id))}.`
      expect(await invoke(me, bearerEvent(ME, token))).toMatchObject(INVALID)
    })

    it('another algorithm with the same secret (HS512)', async () => {
      const user = await registeredUser()
      const token = await sign(claims(user.id), { alg: 'HS512', typ: 'at+jwt' })
      expect(await invoke(me, bearerEvent(ME, token))).toMatchObject(INVALID)
    })

    it('another key', async () => {
      const user = await registeredUser()
      const token = await sign(claims(user.id), undefined, 'a-different-secret-of-at-least-32-bytes!')
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
      const token = await sign(claims(user.id, { iat: now() - 1000, exp: now() - 10 }))
      expect(await invoke(me, bearerEvent(ME, token))).toMatchObject(INVALID)
    })

    it.each([
      ['no exp', { exp: undefined }],
      ['the wrong issuer', { iss: 'someone-else' }],
      ['the wrong audience', { aud: 'another-api' }],
      ['a non-numeric subject', { sub: 'admin' }],
    ])('a token with %s', async (_label, overrides) => {
      const user = await registeredUser()
      const token = await sign(claims(user.id, overrides))
      expect(await invoke(me, bearerEvent(ME, token))).toMatchObject(INVALID)
    })

    it('a token of the wrong type (typ JWT instead of at+jwt)', async () => {
      const user = await registeredUser()
      const token = await sign(claims(user.id), { alg: 'HS256', typ: 'JWT' })
      expect(await invoke(me, bearerEvent(ME, token))).toMatchObject(INVALID)
    })

    it('a hand-made HS256 token whose signature is right but header lacks typ', async () => {
      const user = await registeredUser()
      const unsigned = `${base64url({ alg: 'HS256' })}.${base64url(claims(user.id))}`
      const signature = createHmac('sha256', inject('jwtSecret')).update(unsigned).digest('base64url')
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
