import { eq, inArray, sql } from 'drizzle-orm'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { refreshTokens, sessions, users } from '#db/schema'
import { handler as logout } from '#functions/logout'
import { handler as me } from '#functions/me'
import { handler as refresh } from '#functions/refresh'
import { inLockOrder, type Racer, testDatabase } from '#test/helpers/database'
import { apiEvent, bearerEvent, invoke, jsonEvent, type TestResponse } from '#test/helpers/events'
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

  it('gives exactly one success, and 401 to the rest, when one token is used ten times at once', async () => {
    const pair = await loggedIn(await registeredUser())
    const responses = await Promise.all(Array.from({ length: 10 }, () => useRefresh(pair.refresh_token)))
    const statuses = responses.map((response) => response.status)
    // The token was live and unused: one of the ten is its legitimate use, which no replay may take away.
    expect(statuses.filter((status) => status === 200)).toHaveLength(1)
    expect(statuses.filter((status) => status === 401)).toHaveLength(9)
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

/** Text only a rotation's statement holds, and only a logout's (db/repositories/sessions.ts), in their first 1 KB. */
const ROTATION = 'set last_used_at = now()'
const REVOCATION = 'revoke_event as ('

/** Runs the requests in the order given at the session row's lock, all in flight at once. */
const queuedOnSession = (sessionId: string, racers: readonly [Racer<TestResponse>, Racer<TestResponse>]) =>
  inLockOrder(
    { db: database.service, pool: database.pool },
    { text: 'select 1 from sessions where id = $1 for update', values: [sessionId] },
    racers,
  )

const sessionOf = async (userId: number) => {
  const { rows } = await database.db.execute<{ id: string }>(
    sql`select id from sessions where user_id = ${userId}`,
  )
  if (rows.length !== 1 || !rows[0])
    throw new Error(`expected one session of user ${userId}, found ${rows.length}`)
  return rows[0].id
}

const revokedReasonOf = async (sessionId: string) =>
  (
    await database.db.execute<{ revoked_reason: string | null }>(
      sql`select revoked_reason from sessions where id = ${sessionId}::uuid`,
    )
  ).rows[0]?.revoked_reason

const meWith = (accessToken: string) => invoke(me, bearerEvent('/api/v1/users/me', accessToken))

// Each order forced once: left to timing, one order may never happen in a run, and its promise go unproven.
describe('a refresh and a logout of one token, queued on the session in each order', () => {
  it('refuses the refresh, and every token of the session, when the logout takes the session first', async () => {
    const user = await registeredUser()
    const pair = await loggedIn(user)
    const sessionId = await sessionOf(user.id)

    const [loggedOut, refreshed] = await queuedOnSession(sessionId, [
      { run: () => useLogout(pair.refresh_token), statement: REVOCATION },
      { run: () => useRefresh(pair.refresh_token), statement: ROTATION },
    ])

    expect(loggedOut).toMatchObject({ status: 204, raw: '' })
    expect(refreshed).toMatchObject(INVALID)
    expect(await useRefresh(pair.refresh_token)).toMatchObject(INVALID)
    expect(await meWith(pair.access_token)).toMatchObject(INVALID)
    expect(await revokedReasonOf(sessionId)).toBe('logout')
  })

  it('answers the refresh that takes the session first, and its successor dies with the logout after it', async () => {
    const user = await registeredUser()
    const pair = await loggedIn(user)
    const sessionId = await sessionOf(user.id)

    const [refreshed, loggedOut] = await queuedOnSession(sessionId, [
      { run: () => useRefresh(pair.refresh_token), statement: ROTATION },
      { run: () => useLogout(pair.refresh_token), statement: REVOCATION },
    ])

    expect(refreshed).toMatchObject({ status: 200, body: { refresh_token: expect.any(String) } })
    expect(loggedOut).toMatchObject({ status: 204, raw: '' })
    const successor = refreshed.body as TokenPairBody
    expect(await useRefresh(successor.refresh_token)).toMatchObject(INVALID)
    expect(await meWith(successor.access_token)).toMatchObject(INVALID)
    expect(await meWith(pair.access_token)).toMatchObject(INVALID)
    expect(await revokedReasonOf(sessionId)).toBe('logout')
  })
})
