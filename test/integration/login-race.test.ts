/**
 * A login whose password was checked just before a reset or a change of that password committed: the session it
 * would start, and the stronger hash it would write, were made from a password that is no longer the account's. The
 * session's statement starts nothing then, and the rehash writes nothing over the new password. And the other way
 * round: logins of the same right password at once never refuse each other, a pending rehash or not, and a change of
 * the password racing a login's rehash is never taken for a wrong current password.
 */
import { randomUUID } from 'node:crypto'
import { sql } from 'drizzle-orm'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { createLoginRepository } from '#db/repositories/logins'
import { createPasswordResetRepository } from '#db/repositories/password-resets'
import { handler as changePassword } from '#functions/change-password'
import { handler as login } from '#functions/login'
import { handler as me } from '#functions/me'
import { hashResetToken, newResetToken } from '#shared/domain/password-reset-service'
import { inLockOrder, testDatabase, waitUntilBlocked } from '#test/helpers/database'
import { bearerEvent, invoke, jsonEvent, uniqueEmail } from '#test/helpers/events'
import { loggedIn, registeredUser, type TestUser } from '#test/helpers/users'

const database = testDatabase()
/** The API's own role, with its lock_timeout, on a pool of its own: the test's pool holds locks and watches. */
const api = testDatabase(inject('databaseUrl'))
afterAll(() => Promise.all([database.close(), api.close()]))

const CONTEXT = { sourceIp: '192.0.2.201', userAgent: 'vitest' }
const logins = createLoginRepository(
  api.service,
  { maxFailures: 10, windowSeconds: 900, ipMaxFailures: 300, ipWindowSeconds: 900 },
  { maxAgeSeconds: 86_400, reuseIntervalSeconds: 0, maxPerUser: 100 },
)

async function userWithHash(hash: string) {
  const email = uniqueEmail('login-race')
  await database.db.execute(sql`insert into users (email, hashed_password) values (${email}, ${hash})`)
  const attempt = await logins.begin({ id: randomUUID(), email }, CONTEXT)
  if (!attempt.user) throw new Error('no user')
  return attempt.user
}

const newSession = (user: Awaited<ReturnType<typeof userWithHash>>) => ({
  id: randomUUID(),
  user,
  reservation: null,
  refreshTokenHash: `refresh-${randomUUID()}`,
  refreshTokenExpiresAt: new Date(Date.now() + 3_600_000),
})

/** Text only the reset's statement holds (db/repositories/password-resets.ts): its use of the link. */
const RESET_STATEMENT = '"password_reset_tokens" t using "users" u'

const sessionsOf = async (userId: number) =>
  (await database.db.execute(sql`select id from sessions where user_id = ${userId}`)).rows

const storedHash = async (userId: number) =>
  (await database.db.execute<{ h: string }>(sql`select hashed_password as h from users where id = ${userId}`))
    .rows[0]?.h

describe('a login checked against a password replaced meanwhile', () => {
  it('starts no session and writes no hash over the new one', async () => {
    const user = await userWithHash('old-hash')
    // The reset commits between the password check and the session's statement: a new hash, a new version.
    await database.db.execute(
      sql`update users set hashed_password = 'new-hash', credential_version = credential_version + 1
        where id = ${user.id}`,
    )
    expect(await logins.startSession(newSession(user), CONTEXT)).toBe(false)
    expect(await sessionsOf(user.id)).toEqual([])
    expect(await logins.upgradeHash({ user, hash: 'old-password-rehashed', carriedOver: false })).toBe(false)
    expect(await storedHash(user.id)).toBe('new-hash')
  })

  it('starts none for an account deactivated meanwhile', async () => {
    const user = await userWithHash('some-hash')
    await database.db.execute(sql`update users set is_active = false where id = ${user.id}`)
    expect(await logins.startSession(newSession(user), CONTEXT)).toBe(false)
    expect(await sessionsOf(user.id)).toEqual([])
  })

  it('starts it, and upgrades the hash, when nothing changed; a retry of that statement answers the same', async () => {
    const user = await userWithHash('checked-hash')
    const session = newSession(user)
    expect(await logins.startSession(session, CONTEXT)).toBe(true)
    expect(await logins.upgradeHash({ user, hash: 'stronger-hash', carriedOver: false })).toBe(true)
    expect(await storedHash(user.id)).toBe('stronger-hash')
    // The same statement again (its answer lost): the session is found, nothing is applied twice.
    expect(await logins.startSession(session, CONTEXT)).toBe(true)
    expect(await sessionsOf(user.id)).toHaveLength(1)
  })
})

describe('a login that committed while a reset waited for the user row', () => {
  it("has its session revoked all the same, though the reset's statement could not see it", async () => {
    const resets = createPasswordResetRepository(database.service, {
      emailLimit: 5,
      ipLimit: 100,
      windowSeconds: 3600,
      tokenTtlSeconds: 1800,
    })
    const user = await userWithHash('old-hash')
    const token = newResetToken()
    await database.db.execute(sql`
      insert into password_reset_tokens (user_id, token_hash, job_id, requested_at, expires_at)
      values (${user.id}, ${hashResetToken(token)}, ${randomUUID()}, now(), now() + interval '30 minutes')`)
    // A login's session statement: it holds the user row (share lock) and inserts its session, uncommitted, while
    // the reset's statement starts and waits for the row.
    const login = await database.pool.connect()
    const sessionId = randomUUID()
    try {
      await login.query('begin')
      await login.query('select id from users where id = $1 for share', [user.id])
      const { rows } = await login.query<{ pid: number }>('select pg_backend_pid() as pid')
      await login.query('insert into sessions (id, user_id) values ($1, $2)', [sessionId, user.id])
      const completing = resets.complete(
        { id: randomUUID(), tokenHash: hashResetToken(token), hash: 'new-hash', noticeId: randomUUID() },
        CONTEXT,
      )
      // The reset's statement is queued on the row before the login commits: its snapshot cannot hold the session.
      await waitUntilBlocked(database.service, RESET_STATEMENT, { behind: Number(rows[0]?.pid) })
      await login.query('commit')
      expect(await completing).toBe(true)
    } finally {
      login.release()
    }
    const [row] = (
      await database.db.execute<{ revoked_reason: string | null }>(
        sql`select revoked_reason from sessions where id = ${sessionId}::uuid`,
      )
    ).rows
    expect(row?.revoked_reason).toBe('password_reset')
  })
})

/** Text only a login's session statement holds, and only its rehash (db/repositories/logins.ts), in their first 1 KB. */
const SESSION_STATEMENT = 'insert into "sessions" (id, user_id'
const REHASH_STATEMENT = 'update "users" set hashed_password'

describe('two logins of one account, queued on its row', () => {
  it('starts the second’s session after the first’s rehash, which kept the version, and lets one rehash write', async () => {
    const first = await userWithHash('weaker-hash')
    const second = (await logins.begin({ id: randomUUID(), email: first.email }, CONTEXT)).user
    if (!second) throw new Error('no user')
    expect(await logins.startSession(newSession(first), CONTEXT)).toBe(true)

    // Both checked the password against the same version; the first's rehash takes the row before the second's
    // session statement reads it.
    const [rehashed, started] = await inLockOrder(
      { db: database.service, pool: database.pool },
      { text: 'select 1 from users where id = $1 for update', values: [first.id] },
      [
        {
          run: () => logins.upgradeHash({ user: first, hash: 'stronger-hash', carriedOver: false }),
          statement: REHASH_STATEMENT,
        },
        { run: () => logins.startSession(newSession(second), CONTEXT), statement: SESSION_STATEMENT },
      ],
    )

    expect([rehashed, started]).toEqual([true, true])
    expect(await sessionsOf(first.id)).toHaveLength(2)
    // The second's rehash finds the hash it checked replaced: it writes nothing over the first's.
    expect(
      await logins.upgradeHash({ user: second, hash: 'another-stronger-hash', carriedOver: false }),
    ).toBe(false)
    expect(await storedHash(first.id)).toBe('stronger-hash')
  })
})

/** Marks the account as carried over from the old backend: its next login with a short password rehashes. */
const markCarriedOver = (userId: number) =>
  database.db.execute(sql`update users set password_carried_over = true where id = ${userId}`)

const carriedOver = async (userId: number) =>
  (
    await database.db.execute<{ c: boolean }>(
      sql`select password_carried_over as c from users where id = ${userId}`,
    )
  ).rows[0]?.c

const logIn = (user: TestUser) =>
  invoke(login, jsonEvent('/api/v1/auth/login', { email: user.email, password: user.password }))

describe('logins of the right password at the same moment', () => {
  it.each([
    ['with a rehash pending (an account carried over from the old backend)', true],
    ['with nothing to rehash', false],
  ])('all succeed, 12 pairs at once, %s', async (_, pending) => {
    const users = await Promise.all(Array.from({ length: 12 }, () => registeredUser()))
    if (pending) for (const user of users) await markCarriedOver(user.id)
    const answers = await Promise.all(users.flatMap((user) => [logIn(user), logIn(user)]))
    expect(answers.map((answer) => answer.status)).toEqual(Array(24).fill(200))
    // Each account rehashed once, by one of its two logins; the other found it done.
    for (const user of users) expect(await carriedOver(user.id)).toBe(false)
  })
})

describe('a password change racing a login that rehashes', () => {
  it('changes the password every time, never answering "Incorrect password"', async () => {
    for (let round = 0; round < 6; round++) {
      const user = await registeredUser()
      const { access_token } = await loggedIn(user)
      await markCarriedOver(user.id)
      const change = invoke(
        changePassword,
        jsonEvent(
          '/api/v1/users/me/password',
          { current_password: user.password, new_password: 'a brand new password' },
          { headers: { authorization: `Bearer ${access_token}` } },
        ),
      )
      const [changed, racing] = await Promise.all([change, logIn(user)])
      expect(changed.status).toBe(204)
      // The login checked the old password: it either finished first (and its session was ended by the change)
      // or found the credential moved on (401); it never made the change fail.
      expect([200, 401]).toContain(racing.status)
      expect((await logIn({ ...user, password: 'a brand new password' })).status).toBe(200)
      expect((await logIn(user)).status).toBe(401)
      if (racing.status === 200) {
        const token = (racing.body as { access_token: string }).access_token
        expect((await invoke(me, bearerEvent('/api/v1/users/me', token))).status).toBe(401)
      }
    }
  })
})
