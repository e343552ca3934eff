import { randomUUID } from 'node:crypto'
import { and, eq } from 'drizzle-orm'
import { afterAll, describe, expect, it } from 'vitest'
import { securityEvents, users } from '#db/schema'
import { handler as changePassword } from '#functions/change-password'
import { handler as endSessions } from '#functions/end-all-sessions'
import { handler as endSession } from '#functions/end-one-session'
import { handler as sessions } from '#functions/list-sessions'
import { handler as login } from '#functions/login'
import { handler as me } from '#functions/me'
import { handler as notFound } from '#functions/not-found'
import { handler as refresh } from '#functions/refresh'
import { allowedMethods, findRoute } from '#functions/routes'
import type { PublicSession } from '#shared/domain/auth-service'
import { inLockOrder, testDatabase } from '#test/helpers/database'
import { apiEvent, bearerEvent, invoke, jsonEvent } from '#test/helpers/events'
import { loggedIn, registeredUser, type TestUser, type TokenPairBody } from '#test/helpers/users'

const ME = '/api/v1/users/me'
const SESSIONS = '/api/v1/users/me/sessions'
const PASSWORD = '/api/v1/users/me/password'
const LOGIN_MAX_FAILURES = 10
const database = testDatabase()
afterAll(() => database.close())

const INVALID = {
  status: 401,
  body: { detail: 'Could not validate credentials' },
  headers: expect.objectContaining({ 'www-authenticate': 'Bearer error="invalid_token"' }),
}
const NOT_FOUND = { status: 404, body: { detail: 'Not Found' } }
const INCORRECT = { status: 400, body: { detail: 'Incorrect password' } }

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
const list = (token: string) => invoke(sessions, bearerEvent(SESSIONS, token))
const end = (token: string, id: string) =>
  invoke(endSession, apiEvent('DELETE', `${SESSIONS}/${id}`, undefined, { headers: bearer(token) }))
const endAll = (token: string) =>
  invoke(endSessions, apiEvent('DELETE', SESSIONS, undefined, { headers: bearer(token) }))
const change = (token: string, body: unknown) =>
  invoke(changePassword, jsonEvent(PASSWORD, body, { headers: bearer(token) }))
const meWith = (token: string) => invoke(me, bearerEvent(ME, token))
const refreshWith = (token: string) =>
  invoke(refresh, jsonEvent('/api/v1/auth/refresh', { refresh_token: token }))
const loginWith = (email: string, password: string) =>
  invoke(login, jsonEvent('/api/v1/auth/login', { email, password }))

async function loggedInFrom(user: TestUser, sourceIp: string, userAgent: string): Promise<TokenPairBody> {
  const response = await invoke(
    login,
    jsonEvent(
      '/api/v1/auth/login',
      { email: user.email, password: user.password },
      { sourceIp, headers: { 'user-agent': userAgent } },
    ),
  )
  expect(response.status).toBe(200)
  return response.body as TokenPairBody
}

type ListedSession = PublicSession

async function sessionIds(token: string): Promise<ListedSession[]> {
  const response = await list(token)
  expect(response.status).toBe(200)
  return response.body as ListedSession[]
}

const eventsOf = async (userId: number, type: string) =>
  database.db
    .select({ type: securityEvents.type })
    .from(securityEvents)
    .where(and(eq(securityEvents.userId, userId), eq(securityEvents.type, type)))

describe('GET /users/me/sessions', () => {
  it('lists the live sessions with their address and user agent, the current one marked', async () => {
    const user = await registeredUser()
    const phone = await loggedInFrom(user, '203.0.113.7', 'Phone/1.0')
    const laptop = await loggedInFrom(user, '203.0.113.8', 'Laptop/2.0')
    const response = await list(laptop.access_token)
    expect(response.status).toBe(200)
    const listed = response.body as ListedSession[]
    expect(listed).toHaveLength(2)
    const iso = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$/)
    expect(listed).toEqual(
      expect.arrayContaining([
        {
          id: expect.any(String),
          created_at: iso,
          last_used_at: iso,
          ip: '203.0.113.7',
          user_agent: 'Phone/1.0',
          current: false,
        },
        {
          id: expect.any(String),
          created_at: iso,
          last_used_at: iso,
          ip: '203.0.113.8',
          user_agent: 'Laptop/2.0',
          current: true,
        },
      ]),
    )
    const fromPhone = await sessionIds(phone.access_token)
    expect(fromPhone.find((session) => session.current)?.user_agent).toBe('Phone/1.0')
  })

  it('answers 401 as /users/me without a token or with an invalid one', async () => {
    expect(await invoke(sessions, apiEvent('GET', SESSIONS))).toMatchObject({
      status: 401,
      body: { detail: 'Not authenticated' },
    })
    expect(await list('not-a-token')).toMatchObject(INVALID)
  })
})

describe('DELETE /users/me/sessions/{id}', () => {
  it('ends that session: its refresh and access tokens are refused, the others still work', async () => {
    const user = await registeredUser()
    const kept = await loggedIn(user)
    const ended = await loggedIn(user)
    const target = (await sessionIds(kept.access_token)).find((session) => !session.current)
    expect(target).toBeDefined()
    expect(await end(kept.access_token, target?.id ?? '')).toMatchObject({ status: 204, raw: '' })

    expect(await refreshWith(ended.refresh_token)).toMatchObject(INVALID)
    expect(await meWith(ended.access_token)).toMatchObject(INVALID)
    expect((await meWith(kept.access_token)).status).toBe(200)
    expect((await sessionIds(kept.access_token)).map((session) => session.id)).not.toContain(target?.id)
    // Ending it again is harmless, and recorded once.
    expect((await end(kept.access_token, target?.id ?? '')).status).toBe(204)
    expect(await eventsOf(user.id, 'session_ended')).toHaveLength(1)
  })

  it("answers 404 to another user's session, an unknown id and a path that is no id, ending nothing", async () => {
    const owner = await registeredUser()
    const other = await registeredUser()
    const owners = await loggedIn(owner)
    const others = await loggedIn(other)
    const [ownersSession] = await sessionIds(owners.access_token)
    for (const id of [ownersSession?.id ?? '', randomUUID(), 'not-a-uuid', '%00']) {
      expect(await end(others.access_token, id)).toMatchObject(NOT_FOUND)
    }
    expect((await meWith(owners.access_token)).status).toBe(200)
    expect((await refreshWith(owners.refresh_token)).status).toBe(200)
  })

  it('answers 401 without a valid token', async () => {
    expect((await end('not-a-token', randomUUID())).status).toBe(401)
  })
})

describe('DELETE /users/me/sessions', () => {
  it('ends every session of the user, the current one too; another user is untouched', async () => {
    const user = await registeredUser()
    const bystander = await loggedIn(await registeredUser())
    const pairs = [await loggedIn(user), await loggedIn(user), await loggedIn(user)]
    expect(await endAll(pairs[0]?.access_token ?? '')).toMatchObject({ status: 204, raw: '' })
    for (const pair of pairs) {
      expect(await meWith(pair.access_token)).toMatchObject(INVALID)
      expect(await refreshWith(pair.refresh_token)).toMatchObject(INVALID)
    }
    expect(await eventsOf(user.id, 'session_ended')).toHaveLength(3)
    expect((await meWith(bystander.access_token)).status).toBe(200)
  })
})

describe('POST /users/me/password', () => {
  it('changes the password: the current session kept, every other refused, the new password logs in', async () => {
    const user = await registeredUser()
    const current = await loggedIn(user)
    const other = await loggedIn(user)
    const newPassword = 'a brand new passphrase'
    expect(
      await change(current.access_token, { current_password: user.password, new_password: newPassword }),
    ).toMatchObject({ status: 204, raw: '' })

    expect((await meWith(current.access_token)).status).toBe(200)
    expect((await refreshWith(current.refresh_token)).status).toBe(200)
    expect(await meWith(other.access_token)).toMatchObject(INVALID)
    expect(await refreshWith(other.refresh_token)).toMatchObject(INVALID)
    expect((await loginWith(user.email, newPassword)).status).toBe(200)
    expect((await loginWith(user.email, user.password)).status).toBe(401)
    expect(await eventsOf(user.id, 'password_changed')).toHaveLength(1)
    const [row] = await database.db.select().from(users).where(eq(users.id, user.id))
    expect(row?.passwordCarriedOver).toBe(false)
  })

  it('answers 400 to a wrong current password, counted towards the lock: 429 past the limit, even when right', async () => {
    const user = await registeredUser()
    const { access_token } = await loggedIn(user)
    for (let failure = 1; failure <= LOGIN_MAX_FAILURES; failure++) {
      expect(
        await change(access_token, { current_password: 'wrong password!', new_password: 'whatever new one' }),
      ).toMatchObject(INCORRECT)
    }
    const locked = await change(access_token, {
      current_password: user.password,
      new_password: 'whatever new one',
    })
    expect(locked).toMatchObject({ status: 429, body: { detail: 'Too many failed login attempts' } })
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0)
    // The same lock as login's.
    expect((await loginWith(user.email, user.password)).status).toBe(429)
    expect(await eventsOf(user.id, 'login_failure')).toHaveLength(LOGIN_MAX_FAILURES)
  })

  it('clears the failed-login count on success', async () => {
    const user = await registeredUser()
    const { access_token } = await loggedIn(user)
    for (let failure = 1; failure < LOGIN_MAX_FAILURES; failure++) {
      expect(
        (await change(access_token, { current_password: 'wrong!!!', new_password: 'new password 1' })).status,
      ).toBe(400)
    }
    expect(
      (await change(access_token, { current_password: user.password, new_password: 'new password 1' }))
        .status,
    ).toBe(204)
    // Nine more failures would have locked the account had the count not been cleared.
    for (let failure = 1; failure < LOGIN_MAX_FAILURES; failure++) {
      expect((await loginWith(user.email, 'wrong!!!')).status).toBe(401)
    }
    expect((await loginWith(user.email, 'new password 1')).status).toBe(200)
  })

  it('answers 422 to a new password outside the register rules, and 401 without a valid token', async () => {
    const user = await registeredUser()
    const { access_token } = await loggedIn(user)
    const short = await change(access_token, { current_password: user.password, new_password: 'short' })
    expect(short.status).toBe(422)
    expect((short.body as { detail: { loc: string[] }[] }).detail[0]?.loc).toEqual(['body', 'new_password'])
    const long = await change(access_token, { current_password: user.password, new_password: 'x'.repeat(73) })
    expect(long.status).toBe(422)
    expect(
      (await change('not-a-token', { current_password: user.password, new_password: 'long enough' })).status,
    ).toBe(401)
    expect((await loginWith(user.email, user.password)).status).toBe(200)
  })

  it('of two concurrent changes, exactly one succeeds and the password is the winner', async () => {
    const user = await registeredUser()
    const first = await loggedIn(user)
    const second = await loggedIn(user)
    const responses = await Promise.all([
      change(first.access_token, { current_password: user.password, new_password: 'first new password' }),
      change(second.access_token, { current_password: user.password, new_password: 'second new password' }),
    ])
    const statuses = responses.map((response) => response.status)
    expect(statuses.filter((status) => status === 204)).toHaveLength(1)
    expect(statuses.filter((status) => status !== 204)).toEqual([expect.any(Number)])
    expect([400, 401]).toContain(statuses.find((status) => status !== 204))
    const winner = statuses[0] === 204 ? 'first new password' : 'second new password'
    const loser = statuses[0] === 204 ? 'second new password' : 'first new password'
    expect((await loginWith(user.email, winner)).status).toBe(200)
    expect((await loginWith(user.email, loser)).status).toBe(401)
    expect(await eventsOf(user.id, 'password_changed')).toHaveLength(1)
  })
})

/** Text a password change's statement begins with (db/repositories/sessions.ts `changePassword`). */
const CHANGE_STATEMENT = 'credential_version = u.credential_version + 1'

// Left to timing, the second change's statement starts after the first committed and fails on its session, ended by
// the first; queued on the user's row, both statements begin with the other's change unseen, so only the
// compare-and-set on the credential version stops the second.
describe('two changes of one password queued on the account’s row', () => {
  it('changes it once: the first to the row wins, the second is answered as a wrong password', async () => {
    const user = await registeredUser()
    const first = await loggedIn(user)
    const second = await loggedIn(user)

    const [won, lost] = await inLockOrder(
      { db: database.service, pool: database.pool },
      { text: 'select 1 from users where id = $1 for update', values: [user.id] },
      [
        {
          run: () =>
            change(first.access_token, {
              current_password: user.password,
              new_password: 'first new password',
            }),
          statement: CHANGE_STATEMENT,
        },
        {
          run: () =>
            change(second.access_token, {
              current_password: user.password,
              new_password: 'second new password',
            }),
          statement: CHANGE_STATEMENT,
        },
      ],
    )

    expect(won.status).toBe(204)
    expect(lost).toMatchObject(INCORRECT)
    expect((await loginWith(user.email, 'first new password')).status).toBe(200)
    expect((await loginWith(user.email, 'second new password')).status).toBe(401)
    expect(await eventsOf(user.id, 'password_changed')).toHaveLength(1)
  })
})

/** Text a login's session statement begins with (db/repositories/logins.ts `startSession`). */
const SESSION_STATEMENT = 'seen_turn as ('

// A login whose session statement commits while a change waits on the account: the change's statement began before
// it, so that session is not among those its snapshot ends. The change's second statement ends what started before
// it; without it the login's session, started on the old password, would outlive the change.
describe('a login and a password change queued on the account’s row, the login first', () => {
  it('ends the session the login started meanwhile: its refresh and access tokens are refused', async () => {
    const user = await registeredUser()
    const changer = await loggedIn(user)

    const [loginAnswer, changed] = await inLockOrder(
      { db: database.service, pool: database.pool },
      { text: 'select 1 from users where id = $1 for update', values: [user.id] },
      [
        { run: () => loginWith(user.email, user.password), statement: SESSION_STATEMENT },
        {
          run: () =>
            change(changer.access_token, {
              current_password: user.password,
              new_password: 'a changed password',
            }),
          statement: CHANGE_STATEMENT,
        },
      ],
    )

    // The login checked the old password and started its session before the change committed.
    expect(loginAnswer.status).toBe(200)
    expect(changed.status).toBe(204)
    const started = loginAnswer.body as TokenPairBody
    expect(await refreshWith(started.refresh_token)).toMatchObject(INVALID)
    expect(await meWith(started.access_token)).toMatchObject(INVALID)
    // The changing session goes on.
    expect((await meWith(changer.access_token)).status).toBe(200)
  })
})

describe('routing of /users/me/sessions/{id}', () => {
  it('matches one segment only, carries it as a path parameter, and answers 405 with Allow to another method', async () => {
    const id = randomUUID()
    expect(findRoute('DELETE', `${SESSIONS}/${id}`)?.function).toBe('end-one-session')
    expect(findRoute('DELETE', SESSIONS)?.function).toBe('end-all-sessions')
    expect(findRoute('DELETE', `${SESSIONS}/${id}/more`)).toBeUndefined()
    expect(findRoute('DELETE', `${SESSIONS}/`)).toBeUndefined()
    expect(apiEvent('DELETE', `${SESSIONS}/${id}`).pathParameters).toEqual({ id })
    expect(allowedMethods(SESSIONS).sort()).toEqual(['DELETE', 'GET'])
    const wrongMethod = await invoke(notFound, apiEvent('GET', `${SESSIONS}/${id}`))
    expect(wrongMethod).toMatchObject({
      status: 405,
      body: { detail: 'Method Not Allowed' },
      headers: expect.objectContaining({ allow: 'DELETE' }),
    })
  })
})
