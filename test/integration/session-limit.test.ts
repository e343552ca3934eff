/**
 * A user holds at most MAX_SESSIONS_PER_USER live sessions: a login past it ends the oldest, in the statement that
 * starts the new one, and concurrent logins never leave more. The sessions list shows at most that many.
 */
import { randomUUID } from 'node:crypto'
import { sql } from 'drizzle-orm'
import { decodeJwt } from 'jose'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { createLoginRepository } from '#db/repositories/logins'
import { inLockOrder, testDatabase } from '#test/helpers/database'
import { bearerEvent, invoke, jsonEvent } from '#test/helpers/events'

// This file's own container (each test file runs in a process of its own): three sessions per user.
process.env.MAX_SESSIONS_PER_USER = '3'
const CAP = 3
const { handler: login } = await import('#functions/login')
const { handler: refresh } = await import('#functions/refresh')
const { handler: listSessions } = await import('#functions/list-sessions')
const { registeredUser } = await import('#test/helpers/users')
type TestUser = Awaited<ReturnType<typeof registeredUser>>

const database = testDatabase()
/** The API's own role, with its lock_timeout, on a pool of its own: the test's pool holds the lock and watches. */
const api = testDatabase(inject('databaseUrl'))
afterAll(() => Promise.all([database.close(), api.close()]))

interface Pair {
  access_token: string
  refresh_token: string
}

async function logIn(user: TestUser): Promise<Pair & { sid: string }> {
  const answer = await invoke(
    login,
    jsonEvent('/api/v1/auth/login', { email: user.email, password: user.password }),
    { timeoutMs: 60_000 },
  )
  expect(answer.status).toBe(200)
  const pair = answer.body as Pair
  return { ...pair, sid: String(decodeJwt(pair.access_token).sid) }
}

const CONTEXT = { sourceIp: '192.0.2.202', userAgent: 'vitest' }
/** The repository a login's last statement runs in, with this file's cap; its turn row is `logins:<user id>`. */
const logins = createLoginRepository(
  api.service,
  { maxFailures: 10, windowSeconds: 900, ipMaxFailures: 300, ipWindowSeconds: 900 },
  { maxAgeSeconds: 86_400, reuseIntervalSeconds: 0, maxPerUser: CAP },
)
/** Text only a login's session statement holds (db/repositories/logins.ts `startSession`), in its first 1 KB. */
const SESSION_STATEMENT = 'insert into "sessions" (id, user_id'

const liveSessions = async (userId: number) =>
  (
    await database.db.execute<{ id: string }>(sql`
      select id from sessions
      where user_id = ${userId} and revoked_at is null and created_at > now() - interval '30 days'
      order by created_at desc, id`)
  ).rows.map((row) => row.id)

describe('MAX_SESSIONS_PER_USER', () => {
  it('ends the oldest live sessions of a login past the cap, each with its event, and their tokens die', async () => {
    const user = await registeredUser()
    const pairs = []
    for (let index = 0; index < CAP + 2; index++) pairs.push(await logIn(user))
    const [oldest, second] = pairs
    if (!oldest || !second) throw new Error('no pairs')

    expect(await liveSessions(user.id)).toEqual(
      pairs
        .map((pair) => pair.sid)
        .slice(2)
        .reverse(),
    )
    const ended = await database.db.execute<{ id: string; revoked_reason: string }>(sql`
      select id, revoked_reason from sessions where user_id = ${user.id} and revoked_at is not null order by id`)
    expect(ended.rows).toEqual(
      [oldest.sid, second.sid].sort().map((id) => ({ id, revoked_reason: 'session_limit' })),
    )
    const events = await database.db.execute<{ type: string; event_key: string }>(sql`
      select type, event_key from security_events where user_id = ${user.id} and type = 'session_ended' order by event_key`)
    expect(events.rows).toEqual(
      [oldest.sid, second.sid]
        .sort()
        .map((id) => ({ type: 'session_ended', event_key: `session_ended:${id}` })),
    )
    for (const pair of [oldest, second]) {
      const refused = await invoke(
        refresh,
        jsonEvent('/api/v1/auth/refresh', { refresh_token: pair.refresh_token }),
      )
      expect(refused.status).toBe(401)
    }
    const newest = pairs.at(-1) as Pair
    expect(
      (await invoke(refresh, jsonEvent('/api/v1/auth/refresh', { refresh_token: newest.refresh_token })))
        .status,
    ).toBe(200)
  })

  // In one process the logins' compares run one at a time, so their session statements rarely overlap (this passes
  // without the second statement a blind login runs): the next test makes them overlap.
  it('never leaves more than the cap after concurrent logins of one user, and keeps the newest', async () => {
    const user = await registeredUser()
    for (let index = 0; index < CAP; index++) await logIn(user)
    for (let round = 0; round < 3; round++) {
      const concurrent = await Promise.all(Array.from({ length: CAP }, () => logIn(user)))
      expect((await liveSessions(user.id)).sort()).toEqual(concurrent.map((pair) => pair.sid).sort())
    }
  }, 120_000)

  it('ends what is past the cap after logins that queued on their turn at once, each blind to the others’ sessions', async () => {
    const user = await registeredUser()
    for (let index = 0; index < CAP; index++) await logIn(user)
    const checked = (await logins.begin({ id: randomUUID(), email: user.email }, CONTEXT)).user
    if (!checked) throw new Error('no user')
    const sessions = Array.from({ length: CAP }, () => ({
      id: randomUUID(),
      user: checked,
      reservation: null,
      refreshTokenHash: `refresh-${randomUUID()}`,
      refreshTokenExpiresAt: new Date(Date.now() + 3_600_000),
    }))

    // Every statement begins (and takes its snapshot) before any of them commits: each waits for the user's turn,
    // which this test holds until all are queued on it.
    const started = await inLockOrder(
      { db: database.service, pool: database.pool },
      { text: 'select 1 from rate_limits where key = $1 for update', values: [`logins:${user.id}`] },
      sessions.map((session) => ({
        run: () => logins.startSession(session, CONTEXT),
        statement: SESSION_STATEMENT,
      })),
    )

    expect(started).toEqual(sessions.map(() => true))
    expect((await liveSessions(user.id)).sort()).toEqual(sessions.map((session) => session.id).sort())
  })

  it('lists at most the cap, newest first, even while more sessions live (the cap lowered since they started)', async () => {
    const user = await registeredUser()
    const pair = await logIn(user)
    // Sessions started under a higher cap: older than the current one, still live.
    const older: string[] = []
    for (let index = 1; index <= CAP + 2; index++) {
      const id = randomUUID()
      older.push(id)
      await database.db.execute(sql`
        insert into sessions (id, user_id, created_at, last_used_at, expires_at)
        values (${id}, ${user.id}, now() - make_interval(mins => ${index}), now(), now() + interval '1 day')`)
    }
    const listed = await invoke(listSessions, bearerEvent('/api/v1/users/me/sessions', pair.access_token))
    expect(listed.status).toBe(200)
    const sessions = listed.body as { id: string; current: boolean }[]
    expect(sessions.map((session) => session.id)).toEqual([pair.sid, ...older.slice(0, CAP - 1)])
    expect(sessions[0]).toMatchObject({ current: true })

    // The next login ends every one past the cap.
    const next = await logIn(user)
    expect(await liveSessions(user.id)).toEqual([next.sid, pair.sid, ...older.slice(0, CAP - 2)])
  })
})
