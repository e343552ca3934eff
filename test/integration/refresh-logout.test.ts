import { eq, inArray } from 'drizzle-orm'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { refreshTokens, sessions, users } from '#db/schema'
import { handler as logout } from '#functions/logout'
import { handler as me } from '#functions/me'
import { handler as refresh } from '#functions/refresh'
import { testDatabase } from '#test/helpers/database'
import { apiEvent, bearerEvent, invoke, jsonEvent } from '#test/helpers/events'
import { loggedIn, registeredUser, type TokenPairBody } from '#test/helpers/users'

// Strict single use here (the reuse interval off, before the functions read their settings at import): these cases
// are the replays and races of a token used twice; test/e2e/refresh-reuse.test.ts holds them with the interval on.
vi.hoisted(() => {
  process.env.REFRESH_TOKEN_REUSE_INTERVAL_SECONDS = '0'
})

const REFRESH = '/api/v1/auth/refresh'
const LOGOUT = '/api/v1/auth/logout'
const database = testDatabase()
afterAll(() => database.close())

const INVALID = { status: 401, body: { detail: 'Could not validate credentials' } }
const useRefresh = (refreshToken: string) =>
  invoke(refresh, jsonEvent(REFRESH, { refresh_token: refreshToken }))
/** The refresh tokens of every session of a user. */
const tokensOf = (userId: number) =>
  inArray(
    refreshTokens.sessionId,
    database.db.select({ id: sessions.id }).from(sessions).where(eq(sessions.userId, userId)),
  )
const useLogout = (refreshToken: string) => invoke(logout, jsonEvent(LOGOUT, { refresh_token: refreshToken }))

describe('POST /auth/refresh', () => {
  it('answers a new pair and retires the old refresh token', async () => {
    const pair = await loggedIn(await registeredUser())
    const next = await useRefresh(pair.refresh_token)
    expect(next).toMatchObject({
      status: 200,
      body: {
        access_token: expect.any(String),
        refresh_token: expect.any(String),
        token_type: 'bearer',
        expires_in: 900,
      },
    })
    expect(next.headers['cache-control']).toBe('no-store')
    const body = next.body as TokenPairBody
    expect(body.refresh_token).not.toBe(pair.refresh_token)
    expect((await invoke(me, bearerEvent('/api/v1/users/me', body.access_token))).status).toBe(200)
  })

  it('stores refresh tokens only as hashes', async () => {
    const user = await registeredUser()
    const pair = await loggedIn(user)
    const rows = await database.db.select().from(refreshTokens).where(tokensOf(user.id))
    expect(rows).toHaveLength(1)
    expect(JSON.stringify(rows)).not.toContain(pair.refresh_token)
  })

  it('ends the whole session when a retired token is presented again', async () => {
    const pair = await loggedIn(await registeredUser())
    const second = (await useRefresh(pair.refresh_token)).body as TokenPairBody
    const third = (await useRefresh(second.refresh_token)).body as TokenPairBody

    expect(await useRefresh(pair.refresh_token)).toMatchObject(INVALID)
    // The session's live token is refused too: whoever replayed the old token cannot continue.
    expect(await useRefresh(third.refresh_token)).toMatchObject(INVALID)
  })

  it('leaves other sessions of the same user alone when one is ended', async () => {
    const user = await registeredUser()
    const phone = await loggedIn(user)
    const laptop = await loggedIn(user)
    await useRefresh(phone.refresh_token)
    await useRefresh(phone.refresh_token)
    expect((await useRefresh(laptop.refresh_token)).status).toBe(200)
  })

  it('answers 401 for an unknown, an expired, and an inactive user’s token', async () => {
    expect(await useRefresh('not-a-token-we-issued')).toMatchObject(INVALID)

    const expiredUser = await registeredUser()
    const expired = await loggedIn(expiredUser)
    await database.db
      .update(refreshTokens)
      .set({ expiresAt: new Date(Date.now() - 1000) })
      .where(tokensOf(expiredUser.id))
    expect(await useRefresh(expired.refresh_token)).toMatchObject(INVALID)

    const inactiveUser = await registeredUser()
    const inactive = await loggedIn(inactiveUser)
    await database.db.update(users).set({ isActive: false }).where(eq(users.id, inactiveUser.id))
    expect(await useRefresh(inactive.refresh_token)).toMatchObject(INVALID)
  })

  it('refuses an access token presented as a refresh token', async () => {
    const pair = await loggedIn(await registeredUser())
    expect(await useRefresh(pair.access_token)).toMatchObject(INVALID)
  })

  it('gives at most one success and no 5xx when one token is used ten times at once', async () => {
    const pair = await loggedIn(await registeredUser())
    const responses = await Promise.all(Array.from({ length: 10 }, () => useRefresh(pair.refresh_token)))
    const statuses = responses.map((response) => response.status)
    expect(statuses.filter((status) => status === 200).length).toBeLessThanOrEqual(1)
    expect(statuses.every((status) => status === 200 || status === 401)).toBe(true)
  })

  it('answers 422 for a missing refresh_token', async () => {
    const response = await invoke(refresh, jsonEvent(REFRESH, {}))
    expect(response).toMatchObject({
      status: 422,
      body: { detail: [{ loc: ['body', 'refresh_token'], type: 'missing' }] },
    })
  })
})

describe('POST /auth/logout', () => {
  it('answers 204 with no body and ends the session; repeating it is harmless', async () => {
    const pair = await loggedIn(await registeredUser())
    const first = await useLogout(pair.refresh_token)
    expect(first).toMatchObject({ status: 204, raw: '' })
    expect(await useRefresh(pair.refresh_token)).toMatchObject(INVALID)
    expect((await useLogout(pair.refresh_token)).status).toBe(204)
  })

  it('ends the session’s live token when given a retired one of the same session', async () => {
    const pair = await loggedIn(await registeredUser())
    const next = (await useRefresh(pair.refresh_token)).body as TokenPairBody
    expect((await useLogout(pair.refresh_token)).status).toBe(204)
    expect(await useRefresh(next.refresh_token)).toMatchObject(INVALID)
  })

  it('answers 204 for a token it never issued', async () => {
    expect((await useLogout('never-issued')).status).toBe(204)
  })

  it('answers 422 on a malformed body', async () => {
    const malformed = await invoke(
      logout,
      apiEvent('POST', LOGOUT, '{oops', { headers: { 'content-type': 'application/json' } }),
    )
    expect(malformed).toMatchObject({ status: 422, body: { detail: [{ loc: ['body'] }] } })
    const wrongType = await invoke(logout, jsonEvent(LOGOUT, { refresh_token: 42 }))
    expect(wrongType).toMatchObject({ status: 422, body: { detail: [{ loc: ['body', 'refresh_token'] }] } })
  })
})
