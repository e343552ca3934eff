import { randomUUID } from 'node:crypto'
import { sql } from 'drizzle-orm'
import { afterAll, describe, expect, it } from 'vitest'
import { createRetentionRepository } from '#db/repositories/retention'
import { handler as cleanup } from '#functions/cleanup'
import { purgeStaleRows } from '#shared/domain/retention'
import { testDatabase } from '#test/helpers/database'
import { uniqueEmail } from '#test/helpers/events'
import { registeredUser } from '#test/helpers/users'

const database = testDatabase()
afterAll(() => database.close())

const DAY = 86_400

/** A session of `userId` started `ageSeconds` ago, with one refresh token expiring `expiresIn` seconds from now. */
async function sessionWithToken(
  userId: number,
  { ageSeconds = 0, expiresIn = 3600, revoked = false } = {},
): Promise<{ sessionId: string; tokenHash: string }> {
  const sessionId = randomUUID()
  const tokenHash = `cleanup-${randomUUID()}`
  await database.db.execute(sql`
    with session as (
      insert into sessions (id, user_id, created_at, revoked_at)
      values (${sessionId}, ${userId}, now() - make_interval(secs => ${ageSeconds}),
        ${revoked ? sql`now()` : sql`null`})
      returning id
    )
    insert into refresh_tokens (token_hash, session_id, expires_at)
    select ${tokenHash}, id, now() + make_interval(secs => ${expiresIn}) from session`)
  return { sessionId, tokenHash }
}

const exists = async (query: ReturnType<typeof sql>) =>
  ((await database.db.execute<{ found: boolean }>(sql`select exists (${query}) as found`)).rows[0]?.found ??
    false) === true

describe('the cleanup', () => {
  it('deletes what no rule reads any more and keeps everything still in use', async () => {
    const { id: userId } = await registeredUser()
    const live = await sessionWithToken(userId)
    const revoked = await sessionWithToken(userId, { revoked: true })
    const tooOld = await sessionWithToken(userId, { ageSeconds: 31 * DAY })
    const idle = await sessionWithToken(userId, { expiresIn: -60 })
    // A live session's expired token goes; the session stays, it has a live token too.
    const expiredToken = `cleanup-${randomUUID()}`
    await database.db.execute(sql`insert into refresh_tokens (token_hash, session_id, expires_at)
      values (${expiredToken}, ${live.sessionId}, now() - interval '1 minute')`)

    const [oldAttempt, lockedAttempt, freshAttempt] = [
      uniqueEmail('old'),
      uniqueEmail('locked'),
      uniqueEmail('fresh'),
    ]
    await database.db.execute(sql`insert into login_attempts (email, failures, window_started_at, locked_until) values
      (${oldAttempt}, 3, now() - interval '1 day', null),
      (${lockedAttempt}, 10, now() - interval '1 day', now() + interval '1 minute'),
      (${freshAttempt}, 3, now(), null)`)
    const [oldLimit, freshLimit] = [`register:cleanup-${randomUUID()}`, `register:cleanup-${randomUUID()}`]
    await database.db.execute(sql`insert into rate_limits (key, hits, window_started_at) values
      (${oldLimit}, 5, now() - interval '2 days'), (${freshLimit}, 5, now())`)
    const [oldEvent, recentEvent] = [uniqueEmail('old-event'), uniqueEmail('recent-event')]
    await database.db.execute(sql`insert into security_events (type, email, created_at) values
      ('login_failure', ${oldEvent}, now() - interval '401 days'),
      ('login_failure', ${recentEvent}, now() - interval '399 days')`)

    const result = await cleanup({})
    expect(result.complete).toBe(true)

    const session = (id: string) => sql`select 1 from sessions where id = ${id}`
    expect(await exists(session(live.sessionId))).toBe(true)
    expect(await exists(sql`select 1 from refresh_tokens where token_hash = ${live.tokenHash}`)).toBe(true)
    for (const ended of [revoked, tooOld, idle]) {
      expect(await exists(session(ended.sessionId))).toBe(false)
      expect(await exists(sql`select 1 from refresh_tokens where token_hash = ${ended.tokenHash}`)).toBe(
        false,
      )
    }
    expect(await exists(sql`select 1 from refresh_tokens where token_hash = ${expiredToken}`)).toBe(false)
    const attempt = (email: string) => sql`select 1 from login_attempts where email = ${email}`
    expect(await exists(attempt(oldAttempt))).toBe(false)
    expect(await exists(attempt(lockedAttempt))).toBe(true)
    expect(await exists(attempt(freshAttempt))).toBe(true)
    expect(await exists(sql`select 1 from rate_limits where key = ${oldLimit}`)).toBe(false)
    expect(await exists(sql`select 1 from rate_limits where key = ${freshLimit}`)).toBe(true)
    expect(await exists(sql`select 1 from security_events where email = ${oldEvent}`)).toBe(false)
    expect(await exists(sql`select 1 from security_events where email = ${recentEvent}`)).toBe(true)
    expect(result.deleted.sessions).toBeGreaterThanOrEqual(3)
  })

  it('works in bounded batches, and leaves the rest to the next run when its time is up', async () => {
    const { id: userId } = await registeredUser()
    for (let i = 0; i < 5; i++) await sessionWithToken(userId, { revoked: true })
    const retention = createRetentionRepository(database.service, {
      loginWindowSeconds: 900,
      ipWindowSeconds: 900,
      registerWindowSeconds: 3600,
      resetWindowSeconds: 3600,
      sessionMaxAgeSeconds: 30 * DAY,
      auditRetentionDays: 400,
    })
    const purged: number[] = []
    const counting = {
      purge: async (...args: Parameters<typeof retention.purge>) => {
        const count = await retention.purge(...args)
        if (args[0] === 'sessions') purged.push(count)
        return count
      },
    }
    // A budget already spent: nothing is deleted, and the run says it is not complete.
    expect(await purgeStaleRows(counting, { batchSize: 2, budgetMs: 0 })).toMatchObject({ complete: false })
    expect(purged).toEqual([])

    const { deleted, complete } = await purgeStaleRows(counting, { batchSize: 2, budgetMs: 30_000 })
    expect(complete).toBe(true)
    expect(purged.every((count) => count <= 2)).toBe(true)
    expect(purged.length).toBeGreaterThanOrEqual(3)
    expect(deleted.sessions).toBeGreaterThanOrEqual(5)
  })
})
