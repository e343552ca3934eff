import bcrypt from 'bcryptjs'
import { eq, sql } from 'drizzle-orm'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { createPasswordCostRepository } from '#db/repositories/password-costs'
import { users } from '#db/schema'
import { handler as login } from '#functions/login'
import { handler as me } from '#functions/me'
import { handler as token } from '#functions/token'
import { testDatabase } from '#test/helpers/database'
import { TEST_BCRYPT_COST } from '#test/helpers/environment'
import { apiEvent, bearerEvent, formEvent, invoke, jsonEvent, uniqueEmail } from '#test/helpers/events'
import { registeredUser, type TokenPairBody } from '#test/helpers/users'

const LOGIN = '/api/v1/auth/login'
const TOKEN = '/api/v1/auth/token'
const database = testDatabase()
afterAll(() => database.close())
afterEach(() => vi.restoreAllMocks())

const TOKEN_PAIR = {
  access_token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
  refresh_token: expect.stringMatching(/^[\w-]{43,}$/),
  token_type: 'bearer',
  expires_in: 900,
}
const INCORRECT = { status: 401, body: { detail: 'Incorrect email or password' } }

describe('POST /auth/login', () => {
  it('answers 200 with a token pair that works on /users/me, and sends no-store', async () => {
    const user = await registeredUser()
    const response = await invoke(login, jsonEvent(LOGIN, { email: user.email, password: user.password }))
    expect(response).toMatchObject({ status: 200, body: TOKEN_PAIR })
    expect(response.headers['cache-control']).toBe('no-store')
    const profile = await invoke(
      me,
      bearerEvent('/api/v1/users/me', (response.body as TokenPairBody).access_token),
    )
    expect(profile).toMatchObject({ status: 200, body: { id: user.id, email: user.email } })
  })

  it.each([
    ['a wrong password', async () => ({ ...(await registeredUser()), password: 'not the password' })],
    ['an unknown email', async () => ({ email: uniqueEmail('ghost'), password: 'whatever password' })],
    [
      'a password over 72 bytes whose first 72 bytes are right',
      async () => {
        const user = await registeredUser('p'.repeat(72))
        return { ...user, password: `${'p'.repeat(72)}extra` }
      },
    ],
    [
      'a 10,000-character password',
      async () => ({ ...(await registeredUser()), password: 'x'.repeat(10_000) }),
    ],
  ])('answers 401 with WWW-Authenticate for %s', async (_label, makeCredentials) => {
    const { email, password } = await makeCredentials()
    const response = await invoke(login, jsonEvent(LOGIN, { email, password }))
    expect(response).toMatchObject(INCORRECT)
    expect(response.headers['www-authenticate']).toBe('Bearer')
  })

  it('answers 401 for an inactive user, even with the right password', async () => {
    const user = await registeredUser()
    await database.db.update(users).set({ isActive: false }).where(eq(users.id, user.id))
    expect(
      await invoke(login, jsonEvent(LOGIN, { email: user.email, password: user.password })),
    ).toMatchObject(INCORRECT)
  })

  it('gives unknown emails and wrong passwords the same status, body and headers', async () => {
    const user = await registeredUser()
    const wrong = await invoke(login, jsonEvent(LOGIN, { email: user.email, password: 'wrong password' }))
    const unknown = await invoke(
      login,
      jsonEvent(LOGIN, { email: uniqueEmail('nobody'), password: 'wrong password' }),
    )
    expect(unknown.status).toBe(wrong.status)
    expect(unknown.raw).toBe(wrong.raw)
    expect(unknown.headers).toEqual(wrong.headers)
  })

  it('runs exactly one bcrypt compare for an unknown email, against a dummy of the target cost', async () => {
    // The target: BCRYPT_COST, or the highest stored cost above it (test/integration/password-cost.test.ts).
    const highest = await createPasswordCostRepository(database.service).highestStoredCost()
    const compare = vi.spyOn(bcrypt, 'compare')
    const hash = vi.spyOn(bcrypt, 'hash')
    await invoke(login, jsonEvent(LOGIN, { email: uniqueEmail('nobody'), password: 'some password' }))
    expect(compare).toHaveBeenCalledTimes(1)
    expect(hash).not.toHaveBeenCalled()
    const [, dummyHash] = compare.mock.calls[0] as [string, string]
    expect(bcrypt.getRounds(dummyHash)).toBe(Math.max(TEST_BCRYPT_COST, highest ?? 0))
  })

  it('rehashes a stored hash of lower cost at the next successful login, and only then', async () => {
    const user = await registeredUser()
    const weakHash = await bcrypt.hash(user.password, TEST_BCRYPT_COST - 1)
    await database.db.update(users).set({ hashedPassword: weakHash }).where(eq(users.id, user.id))

    await invoke(login, jsonEvent(LOGIN, { email: user.email, password: 'wrong password' }))
    const [afterFailure] = await database.db.select().from(users).where(eq(users.id, user.id))
    expect(afterFailure?.hashedPassword).toBe(weakHash)

    expect(
      (await invoke(login, jsonEvent(LOGIN, { email: user.email, password: user.password }))).status,
    ).toBe(200)
    const [afterSuccess] = await database.db.select().from(users).where(eq(users.id, user.id))
    expect(bcrypt.getRounds(afterSuccess?.hashedPassword ?? '')).toBe(TEST_BCRYPT_COST)
    expect(await bcrypt.compare(user.password, afterSuccess?.hashedPassword ?? '')).toBe(true)
    expect(
      (await invoke(login, jsonEvent(LOGIN, { email: user.email, password: user.password }))).status,
    ).toBe(200)
  })

  it('answers 422 for a missing password and for an invalid email', async () => {
    const missing = await invoke(login, jsonEvent(LOGIN, { email: uniqueEmail() }))
    expect(missing).toMatchObject({
      status: 422,
      body: { detail: [{ loc: ['body', 'password'], type: 'missing' }] },
    })
    const invalid = await invoke(login, jsonEvent(LOGIN, { email: 'not-an-email', password: 'whatever1' }))
    expect(invalid).toMatchObject({ status: 422, body: { detail: [{ loc: ['body', 'email'] }] } })
  })
})

describe('POST /auth/token (OAuth 2.0)', () => {
  const OAUTH_HEADERS = { 'cache-control': 'no-store', pragma: 'no-cache' }

  it('issues a pair for the password grant, with no-store and no-cache', async () => {
    const user = await registeredUser()
    const response = await invoke(
      token,
      formEvent(TOKEN, { grant_type: 'password', username: user.email, password: user.password }),
    )
    expect(response).toMatchObject({ status: 200, body: TOKEN_PAIR, headers: OAUTH_HEADERS })
  })

  it('treats an absent grant_type as password, and ignores scope, client credentials and Basic auth', async () => {
    const user = await registeredUser()
    const body = new URLSearchParams({
      username: user.email.toUpperCase(),
      password: user.password,
      scope: 'read',
      client_id: 'swagger',
      client_secret: '',
    })
    const response = await invoke(
      token,
      apiEvent('POST', TOKEN, body.toString(), {
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Basic Og==' },
      }),
    )
    expect(response).toMatchObject({ status: 200, body: TOKEN_PAIR })
  })

  it('receives the form base64-encoded, as API Gateway sends it', async () => {
    const user = await registeredUser()
    const event = formEvent(TOKEN, { username: user.email, password: user.password })
    expect(event.isBase64Encoded).toBe(true)
    expect((await invoke(token, event)).status).toBe(200)
  })

  it('answers invalid_grant for bad credentials, with no-store', async () => {
    const user = await registeredUser()
    const response = await invoke(
      token,
      formEvent(TOKEN, { grant_type: 'password', username: user.email, password: 'wrong password' }),
    )
    expect(response).toMatchObject({
      status: 400,
      body: { error: 'invalid_grant', error_description: expect.any(String) },
      headers: OAUTH_HEADERS,
    })
  })

  it('exchanges a refresh token with the refresh_token grant, and refuses it past the reuse interval', async () => {
    const user = await registeredUser()
    const first = await invoke(token, formEvent(TOKEN, { username: user.email, password: user.password }))
    const refreshToken = (first.body as TokenPairBody).refresh_token
    const exchanged = await invoke(
      token,
      formEvent(TOKEN, { grant_type: 'refresh_token', refresh_token: refreshToken }),
    )
    expect(exchanged).toMatchObject({ status: 200, body: TOKEN_PAIR })
    expect((exchanged.body as TokenPairBody).refresh_token).not.toBe(refreshToken)
    // Presented again within REFRESH_TOKEN_REUSE_INTERVAL_SECONDS (a retry): a new pair; past it: refused.
    const retried = await invoke(
      token,
      formEvent(TOKEN, { grant_type: 'refresh_token', refresh_token: refreshToken }),
    )
    expect(retried).toMatchObject({ status: 200, body: TOKEN_PAIR })
    await database.db.execute(
      sql`update refresh_tokens set retired_at = retired_at - interval '1 minute' where retired_at is not null
          and session_id in (select s.id from sessions s join users u on u.id = s.user_id where u.email = ${user.email})`,
    )
    const replayed = await invoke(
      token,
      formEvent(TOKEN, { grant_type: 'refresh_token', refresh_token: refreshToken }),
    )
    expect(replayed).toMatchObject({ status: 400, body: { error: 'invalid_grant' } })
  })

  it.each([
    ['a missing password', 'grant_type=password&username=a%40b.co'],
    ['a missing username', 'password=secret123'],
    ['an empty password', 'username=a%40b.co&password='],
    ['a missing refresh token', 'grant_type=refresh_token'],
    ['an empty refresh token', 'grant_type=refresh_token&refresh_token='],
    ['a repeated password', 'username=a%40b.co&password=one1one1&password=two2two2'],
    ['a repeated grant_type', 'grant_type=password&grant_type=refresh_token&username=a%40b.co&password=x'],
  ])('answers invalid_request for %s', async (_label, body) => {
    const response = await invoke(token, formEvent(TOKEN, body))
    expect(response).toMatchObject({
      status: 400,
      body: { error: 'invalid_request', error_description: expect.any(String) },
    })
  })

  it('answers unsupported_grant_type for another grant', async () => {
    const response = await invoke(token, formEvent(TOKEN, { grant_type: 'client_credentials' }))
    expect(response).toMatchObject({ status: 400, body: { error: 'unsupported_grant_type' } })
  })

  it('answers 415 for a JSON body', async () => {
    const response = await invoke(token, jsonEvent(TOKEN, { username: 'a@b.co', password: 'whatever1' }))
    expect(response.status).toBe(415)
  })
})

describe('a password carried over from the FastAPI backend', () => {
  // passlib's bcrypt read only the first 72 bytes of a longer password; the hash below is one it would have made.
  const long = `${'correct horse battery staple '.repeat(2)}and twenty more bytes`
  const loginAs = (email: string, password: string) => invoke(login, jsonEvent(LOGIN, { email, password }))
  const stored = async (id: number) =>
    (await database.db.select().from(users).where(eq(users.id, id)))[0] ?? expect.fail('no such user')

  async function carriedOver(password: string) {
    const user = await registeredUser()
    // A cost below the service's, so a login raises it.
    const legacyHash = (await bcrypt.hash(password, TEST_BCRYPT_COST - 1)).replace(/^\$2a\$/, '$2b$')
    await database.db
      .update(users)
      .set({ hashedPassword: legacyHash, passwordCarriedOver: true })
      .where(eq(users.id, user.id))
    return { ...user, legacyHash }
  }

  it('logs in with all of a password over 72 bytes, checked by its first 72 as passlib did, and keeps its mark', async () => {
    expect(Buffer.byteLength(long)).toBeGreaterThan(72)
    const user = await carriedOver(long)
    expect((await loginAs(user.email, long)).status).toBe(200)
    // Exactly its first 72 bytes pass too (passlib's hash cannot tell), and clear nothing: they could be the start of
    // a longer password, which must go on working.
    expect((await loginAs(user.email, Buffer.from(long).subarray(0, 72).toString())).status).toBe(200)
    expect(await loginAs(user.email, `${long.slice(0, 60)}something else`)).toMatchObject(INCORRECT)
    expect((await loginAs(user.email, long)).status).toBe(200)
    // Its hash cannot be replaced by one of the whole password (bcrypt would cut it again): the mark stays until the
    // user sets a new password; the cost is raised all the same.
    const after = await stored(user.id)
    expect(after.passwordCarriedOver).toBe(true)
    expect(bcrypt.getRounds(after.hashedPassword)).toBe(TEST_BCRYPT_COST)
  })

  it('becomes an ordinary account at the first login with a password that fits 72 bytes', async () => {
    const user = await carriedOver('a short old password')
    expect((await loginAs(user.email, 'a short old password')).status).toBe(200)
    const after = await stored(user.id)
    expect(after).toMatchObject({ passwordCarriedOver: false })
    expect(after.hashedPassword).not.toBe(user.legacyHash)
    expect((await loginAs(user.email, 'a short old password')).status).toBe(200)
  })

  it('leaves every other account under the contract: a password over 72 bytes is simply wrong', async () => {
    const user = await registeredUser(long.slice(0, 40))
    await database.db
      .update(users)
      .set({ hashedPassword: await bcrypt.hash(long, TEST_BCRYPT_COST) })
      .where(eq(users.id, user.id))
    expect(await loginAs(user.email, long)).toMatchObject(INCORRECT)
  })
})
