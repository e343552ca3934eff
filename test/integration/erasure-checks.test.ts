/**
 * `erase_account`'s own checks for a user deleting their own account, each forced in turn rather than left to a race:
 * what commits between the request's authentication (and its password check) and the erasure. The HTTP layer refuses
 * an ended session before the erasure starts, so only a change that commits in that window reaches these checks;
 * here it is committed first, and the erasure must answer `stale` and keep the account whole.
 */
import { randomUUID } from 'node:crypto'
import { sql } from 'drizzle-orm'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { createErasureRepository } from '#db/repositories/erasure'
import { testDatabase } from '#test/helpers/database'
import { loggedIn, registeredUser } from '#test/helpers/users'

const api = testDatabase(inject('databaseUrl'))
const admin = testDatabase()
afterAll(() => Promise.all([api.close(), admin.close()]))

const erasure = createErasureRepository(api.service, { emailLimit: 5, ipLimit: 50, windowSeconds: 900 })
const context = { sourceIp: '198.51.100.31', userAgent: 'erasure-checks-test' }

/** A user with one live session, and what a request of that session checked: its session and credential version. */
async function signedIn() {
  const user = await registeredUser()
  await loggedIn(user)
  const { rows } = await admin.db.execute<{ session_id: string; credential_version: number }>(sql`
    select s.id as session_id, u.credential_version from sessions s join users u on u.id = s.user_id
    where u.id = ${user.id}`)
  const [checked] = rows
  if (!checked) throw new Error('no session')
  return { user, checked: { sessionId: checked.session_id, credentialVersion: checked.credential_version } }
}

const eraseOwn = (userId: number, checked: { sessionId: string; credentialVersion: number }) =>
  erasure.erase({ userId, actorId: null, noticeId: randomUUID(), notify: false, checked }, context)

const exists = async (userId: number) =>
  (await admin.db.execute(sql`select 1 from users where id = ${userId}`)).rows.length === 1

describe("a user's own erasure", () => {
  it('erases the account while the session and the password checked still hold', async () => {
    const { user, checked } = await signedIn()
    expect(await eraseOwn(user.id, checked)).toBe('erased')
    expect(await exists(user.id)).toBe(false)
  })

  it('answers stale and keeps the account when its session ended meanwhile (a logout, "end all sessions")', async () => {
    const { user, checked } = await signedIn()
    await admin.db.execute(
      sql`update sessions set revoked_at = now(), revoked_reason = 'user' where id = ${checked.sessionId}::uuid`,
    )
    expect(await eraseOwn(user.id, checked)).toBe('stale')
    expect(await exists(user.id)).toBe(true)
  })

  it('answers stale and keeps the account when its password changed meanwhile (a change, a reset)', async () => {
    const { user, checked } = await signedIn()
    await admin.db.execute(
      sql`update users set credential_version = credential_version + 1 where id = ${user.id}`,
    )
    expect(await eraseOwn(user.id, checked)).toBe('stale')
    expect(await exists(user.id)).toBe(true)
  })

  it("answers stale for a session of another account: the request's session must be the account's own", async () => {
    const { user } = await signedIn()
    const other = await signedIn()
    const { rows } = await admin.db.execute<{ credential_version: number }>(
      sql`select credential_version from users where id = ${user.id}`,
    )
    const credentialVersion = rows[0]?.credential_version ?? 0
    expect(await eraseOwn(user.id, { sessionId: other.checked.sessionId, credentialVersion })).toBe('stale')
    expect(await exists(user.id)).toBe(true)
  })
})
