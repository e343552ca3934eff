/**
 * A login whose password was checked just before a reset or a change of that password committed: the session it
 * would start, and the stronger hash it would write, were made from a password that is no longer the account's. The
 * session's statement starts nothing then, and writes no hash over the new password.
 */
import { randomUUID } from 'node:crypto'
import { sql } from 'drizzle-orm'
import { afterAll, describe, expect, it } from 'vitest'
import { createLoginRepository } from '#db/repositories/logins'
import { createPasswordResetRepository } from '#db/repositories/password-resets'
import { hashResetToken, newResetToken } from '#shared/domain/password-reset-service'
import { testDatabase } from '#test/helpers/database'
import { uniqueEmail } from '#test/helpers/events'

const database = testDatabase()
afterAll(() => database.close())

const CONTEXT = { sourceIp: '192.0.2.201', userAgent: 'vitest' }
const logins = createLoginRepository(
  database.service,
  { maxFailures: 10, windowSeconds: 900, ipMaxFailures: 300, ipWindowSeconds: 900 },
  { maxAgeSeconds: 86_400 },
)

async function userWithHash(hash: string) {
  const email = uniqueEmail('login-race')
  await database.db.execute(sql`insert into users (email, hashed_password) values (${email}, ${hash})`)
  const attempt = await logins.begin({ id: randomUUID(), email }, CONTEXT)
  if (!attempt.user) throw new Error('no user')
  return attempt.user
}

const newSession = (user: Awaited<ReturnType<typeof userWithHash>>, rehash?: string) => ({
  id: randomUUID(),
  user,
  refreshTokenHash: `refresh-${randomUUID()}`,
  refreshTokenExpiresAt: new Date(Date.now() + 3_600_000),
  rehash: rehash ? { hash: rehash, carriedOver: false } : undefined,
})

const sessionsOf = async (userId: number) =>
  (await database.db.execute(sql`select id from sessions where user_id = ${userId}`)).rows

const storedHash = async (userId: number) =>
  (await database.db.execute<{ h: string }>(sql`select hashed_password as h from users where id = ${userId}`))
    .rows[0]?.h

describe('a login checked against a password replaced meanwhile', () => {
  it('starts no session and writes no hash over the new one', async () => {
    const user = await userWithHash('old-hash')
    // The reset commits between the password check and the session's statement.
    await database.db.execute(sql`update users set hashed_password = 'new-hash' where id = ${user.id}`)
    expect(await logins.startSession(newSession(user, 'old-password-rehashed'), CONTEXT)).toBe(false)
    expect(await sessionsOf(user.id)).toEqual([])
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
    const session = newSession(user, 'stronger-hash')
    expect(await logins.startSession(session, CONTEXT)).toBe(true)
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
      await login.query('insert into sessions (id, user_id) values ($1, $2)', [sessionId, user.id])
      const completing = resets.complete(
        { id: randomUUID(), tokenHash: hashResetToken(token), hash: 'new-hash', noticeId: randomUUID() },
        CONTEXT,
      )
      await new Promise((done) => setTimeout(done, 300))
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
