import { createHash, randomUUID } from 'node:crypto'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest'
import { createDatabase, type DatabaseHandle } from '#db/client'
import { sqlState } from '#db/errors'
import { runMigrations } from '#db/migrate'
import { createRetentionRepository } from '#db/repositories/retention'
import { handler as cleanup } from '#functions/cleanup'
import { handler as logout } from '#functions/logout'
import { handler as refresh } from '#functions/refresh'
import { migrationLimits } from '#shared/app/operations'
import { purgeStaleRows } from '#shared/domain/retention'
import { loadSettings } from '#shared/platform/config'
import { superuserOn, testDatabase } from '#test/helpers/database'
import { invoke, jsonEvent, uniqueEmail } from '#test/helpers/events'
import { loggedIn, registeredUser, type TokenPairBody } from '#test/helpers/users'

const database = testDatabase()
/** A database of its own, migrated by the committed migrations: these tests load its tables and lock them. */
let own: { url: string; admin: DatabaseHandle }
beforeAll(async () => {
  const name = `cleanup_${process.pid}_${Date.now().toString(36)}`
  await database.db.execute(sql.raw(`create database "${name}"`))
  const url = superuserOn(name)
  await runMigrations({ url, wsProxy: inject('wsProxy'), limits: migrationLimits(loadSettings()) })
  own = { url, admin: connect(url, {}) }
})
afterAll(async () => {
  await own?.admin.close()
  await database.close()
})

const POLICY = {
  loginWindowSeconds: 900,
  ipWindowSeconds: 900,
  registerWindowSeconds: 3600,
  resetWindowSeconds: 3600,
  sessionMaxAgeSeconds: 30 * 86_400,
  auditRetentionDays: 400,
}

/** A connection of its own to `url` whose sessions start with `settings` (a lowered timeout, say). */
function connect(url: string, settings: Record<string, number>): DatabaseHandle {
  const withSettings = new URL(url)
  const options = Object.entries(settings).map(([name, value]) => `-c ${name}=${value}`)
  if (options.length > 0) withSettings.searchParams.set('options', options.join(' '))
  return createDatabase({
    url: withSettings.toString(),
    wsProxy: inject('wsProxy'),
    connectTimeoutMs: 3000,
    poolMax: 1,
  })
}

/** Whether `sessions.expires_at` exists: the rows below are written as the code of the same revision writes them. */
async function hasSessionExpiry(db: DatabaseHandle['db']): Promise<boolean> {
  const { rows } = await db.execute<{ found: boolean }>(sql`select exists (
    select 1 from information_schema.columns where table_name = 'sessions' and column_name = 'expires_at') as found`)
  return rows[0]?.found === true
}

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
      ...retention,
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

const countOf = async (db: DatabaseHandle['db'], query: ReturnType<typeof sql>) =>
  Number(
    (await db.execute<{ count: string }>(sql`select count(*) as count from (${query}) q`)).rows[0]?.count,
  )

describe('the cleanup at volume', () => {
  const LIVE = 300_000
  const ENDED = 500

  it(`purges ${ENDED} ended sessions among ${LIVE.toLocaleString('en')} live ones within a statement timeout the old rule exceeds`, {
    timeout: 120_000,
  }, async () => {
    const db = own.admin.db
    const { rows } = await db.execute<{ id: number }>(
      sql`insert into users (email, hashed_password) values ('volume@example.com', 'x') returning id`,
    )
    const userId = rows[0]?.id
    // Live sessions, each with a token alive for six more days; ended ones (revoked an hour ago) with theirs. Where the
    // column exists, each carries its expiry as the statements that start and end sessions set it.
    const expiry = (await hasSessionExpiry(db))
      ? { column: sql`, expires_at`, value: sql`, coalesce(revoked, now() + interval '6 days')` }
      : { column: sql.empty(), value: sql.empty() }
    await db.execute(sql`with s as (
        insert into sessions (id, user_id, created_at, revoked_at${expiry.column})
        select gen_random_uuid(), ${userId}, now() - interval '1 day', revoked${expiry.value}
        from (select case when g <= ${ENDED} then now() - interval '1 hour' end as revoked
          from generate_series(1, ${LIVE + ENDED}) g) r
        returning id
      )
      insert into refresh_tokens (token_hash, session_id, expires_at)
      select md5(id::text), id, now() + interval '6 days' from s`)
    await db.execute(sql`analyze sessions, refresh_tokens`)

    // The rule as the cleanup ran it before: its scan reads every live session (and looks up its tokens) to find
    // the ended ones, far longer than this scaled-down timeout (the API role's 5 s, at 3,000,000 sessions).
    const lowered = connect(own.url, { statement_timeout: 250 })
    try {
      const retention = createRetentionRepository(lowered.db, POLICY)
      const deleted = await retention.purge('sessions', 1000)
      expect(deleted).toBe(ENDED)
    } finally {
      await lowered.close()
    }
    expect(await countOf(db, sql`select 1 from sessions where revoked_at is not null`)).toBe(0)
    expect(await countOf(db, sql`select 1 from sessions`)).toBe(LIVE)
    expect(await countOf(db, sql`select 1 from refresh_tokens`)).toBe(LIVE)

    // An index range scan that stops at the batch, whatever the table's size.
    const plan = await db.execute<{ 'QUERY PLAN': string }>(
      sql`explain select id from sessions where expires_at <= now() order by expires_at limit 1000`,
    )
    const text = plan.rows.map((row) => row['QUERY PLAN']).join('\n')
    expect(text).toContain('Index Scan using sessions_expires_at_idx')
    expect(text).not.toContain('Seq Scan')
    await db.execute(sql`delete from sessions`)
  })

  it('cleans every other table when one table cannot be purged, and names that one', async () => {
    const db = own.admin.db
    const { rows } = await db.execute<{ id: number }>(
      sql`insert into users (email, hashed_password) values ('locked@example.com', 'x') returning id`,
    )
    const userId = rows[0]?.id
    const live = randomUUID()
    await db.execute(sql`insert into sessions (id, user_id, revoked_at) values
      (${live}, ${userId}, null), (${randomUUID()}, ${userId}, now())`)
    await db.execute(sql`insert into refresh_tokens (token_hash, session_id, expires_at) values
      ('expired', ${live}, now() - interval '1 minute'), ('live', ${live}, now() + interval '1 day')`)
    await db.execute(sql`insert into login_attempts (email, failures, window_started_at)
      values ('old@example.com', 3, now() - interval '1 day')`)
    await db.execute(sql`insert into rate_limits (key, hits, window_started_at)
      values ('register:old', 5, now() - interval '2 days')`)
    await db.execute(sql`insert into password_reset_tokens (user_id, token_hash, job_id, requested_at, expires_at)
      values (${userId}, 'old', ${randomUUID()}, now() - interval '1 day', now() - interval '23 hours')`)
    await db.execute(sql`insert into account_deletion_tokens (user_id, token_hash, job_id, requested_at, expires_at)
      values (${userId}, 'old', ${randomUUID()}, now() - interval '1 day', now() - interval '23 hours')`)
    // An expired code and a live one: only the first goes.
    await db.execute(sql`insert into email_codes (user_id, purpose, code_hash, job_id, requested_at, expires_at)
      values (${userId}, 'verify', 'old', ${randomUUID()}, now() - interval '1 hour', now() - interval '45 minutes'),
        (${userId}, 'change', 'live', ${randomUUID()}, now(), now() + interval '15 minutes')`)
    await db.execute(sql`insert into mail_outbox (id, kind, user_id, created_at)
      values (${randomUUID()}, 'password_reset', ${userId}, now() - interval '31 days')`)
    await db.execute(
      sql`insert into security_events (type, created_at) values ('login_failure', now() - interval '401 days')`,
    )

    // Another transaction holds the sessions table: the cleanup's statements on it wait their lock_timeout, then fail.
    const holder = connect(own.url, {})
    const client = await holder.pool.connect()
    const cleaning = connect(own.url, { lock_timeout: 300 })
    try {
      await client.query('begin')
      await client.query('lock table sessions in access exclusive mode')
      const failures: { step: string; sqlState: string | undefined }[] = []
      const result = await purgeStaleRows(createRetentionRepository(cleaning.db, POLICY), {
        batchSize: 1000,
        budgetMs: 60_000,
        onFailure: (step, error) => failures.push({ step, sqlState: sqlState(error) }),
      })
      expect(result).toMatchObject({
        complete: false,
        failed: ['session_expiry', 'sessions'],
        deleted: {
          sessions: 0,
          refresh_tokens: 1,
          login_attempts: 1,
          rate_limits: 1,
          password_reset_tokens: 1,
          account_deletion_tokens: 1,
          email_codes: 1,
          mail_outbox: 1,
          security_events: 1,
        },
      })
      const codes = await db.execute<{ code_hash: string }>(
        sql`select code_hash from email_codes where user_id = ${userId}`,
      )
      expect(codes.rows).toEqual([{ code_hash: 'live' }])
      expect(failures).toEqual([
        { step: 'session_expiry', sqlState: '55P03' },
        { step: 'sessions', sqlState: '55P03' },
      ])
    } finally {
      await client.query('rollback')
      client.release()
      await holder.close()
      await cleaning.close()
    }
    // Once the table is free again, the next run purges it too.
    const next = await purgeStaleRows(createRetentionRepository(own.admin.db, POLICY), {
      batchSize: 1000,
      budgetMs: 60_000,
    })
    expect(next).toMatchObject({ complete: true, failed: [], deleted: { sessions: 1 } })
  })

  it('fails the invocation naming the table, after logging its class and SQLSTATE only', async () => {
    const holder = connect(own.url, {})
    const client = await holder.pool.connect()
    const url = new URL(own.url)
    url.searchParams.set('options', '-c lock_timeout=300')
    vi.stubEnv('DATABASE_CLEANUP_URL', url.toString())
    const written: string[] = []
    const capture = (chunk: unknown) => {
      written.push(String(chunk))
      return true
    }
    const spies = [
      vi.spyOn(process.stdout, 'write').mockImplementation(capture),
      vi.spyOn(process.stderr, 'write').mockImplementation(capture),
    ]
    try {
      await client.query('begin')
      await client.query('lock table security_events in access exclusive mode')
      await expect(cleanup({})).rejects.toThrow(
        'cleanup failed for security_events; the other tables were cleaned',
      )
    } finally {
      for (const spy of spies) spy.mockRestore()
      vi.unstubAllEnvs()
      await client.query('rollback')
      client.release()
      await holder.close()
    }
    const lines = written
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line))
    expect(lines).toContainEqual(
      expect.objectContaining({
        message: 'cleanup table failed',
        table: 'security_events',
        sqlState: '55P03',
      }),
    )
    expect(written.join('')).not.toMatch(/\bselect\b|\bdelete from\b|\$1/i)
  })
})

describe('the sessions the service writes', () => {
  const expiryOf = async (refreshToken: string) => {
    const { rows } = await database.db.execute<{ session: string | null; token: string }>(sql`
      select s.expires_at::text as session, t.expires_at::text as token
      from refresh_tokens t join sessions s on s.id = t.session_id
      where t.token_hash = ${createHash('sha256').update(refreshToken, 'utf8').digest('base64url')}`)
    return rows[0]
  }

  it('carry the expiry of their live token from login through each refresh, and end at once on logout', async () => {
    const pair = await loggedIn(await registeredUser())
    const first = await expiryOf(pair.refresh_token)
    expect(first?.session).toBe(first?.token)

    const rotated = await invoke(
      refresh,
      jsonEvent('/api/v1/auth/refresh', { refresh_token: pair.refresh_token }),
    )
    const next = rotated.body as TokenPairBody
    const second = await expiryOf(next.refresh_token)
    expect(second?.session).toBe(second?.token)
    expect(second?.session).not.toBe(first?.session)

    const before = new Date()
    expect(
      (await invoke(logout, jsonEvent('/api/v1/auth/logout', { refresh_token: next.refresh_token }))).status,
    ).toBe(204)
    const ended = await expiryOf(next.refresh_token)
    expect(new Date(ended?.session ?? 0).getTime()).toBeLessThanOrEqual(Date.now())
    expect(new Date(ended?.session ?? 0).getTime()).toBeGreaterThan(before.getTime() - 60_000)
  })
})
