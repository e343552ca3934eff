import { sql } from 'drizzle-orm'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { createDatabase } from '#db/client'
import { sqlState } from '#db/errors'
import { runMigrations } from '#db/migrate'
import { PRODUCTION_POSTGRES_MAJOR } from '#infra/local/postgres'
import { migrationLimits, serverTimeouts } from '#shared/app/operations'
import { loadSettings } from '#shared/platform/config'
import { superuserOn, testDatabase } from '#test/helpers/database'

/** The connection the API functions use (the API's role), and what the database answers it. */
const api = createDatabase({
  url: inject('databaseUrl'),
  wsProxy: inject('wsProxy'),
  connectTimeoutMs: 3000,
  poolMax: 2,
})
/** The connection the cleanup function uses (the cleanup's role). */
const cleanup = createDatabase({
  url: inject('cleanupUrl'),
  wsProxy: inject('wsProxy'),
  connectTimeoutMs: 3000,
  poolMax: 2,
})
const admin = testDatabase()
afterAll(async () => {
  await api.close()
  await cleanup.close()
  await admin.close()
})

const stateOf = (statement: ReturnType<typeof sql>) =>
  api.db.execute(statement).then(
    () => 'ok',
    (error: unknown) => sqlState(error) ?? 'no sqlstate',
  )

describe("the API's database role", () => {
  it('is not the schema owner, and is no superuser', async () => {
    const { rows } = await api.db.execute<{ role: string; superuser: boolean; owner: string }>(sql`
      select current_user as role, (select rolsuper from pg_roles where rolname = current_user) as superuser,
        (select tableowner from pg_tables where tablename = 'users') as owner`)
    expect(rows).toEqual([{ role: 'papa_auth_api', superuser: false, owner: 'papa_auth_owner' }])
  })

  it.each([
    ['drop a table', sql`drop table users`],
    ['create a table', sql`create table intruder (id int)`],
    ['alter a table', sql`alter table users add column intruder int`],
    ['truncate a table', sql`truncate security_events`],
    ['rewrite the audit trail', sql`update security_events set type = 'nothing' where false`],
    ['delete a user', sql`delete from users where false`],
    ['read the migrations journal', sql`select count(*) from drizzle.__drizzle_migrations`],
    ['create a role', sql`create role intruder`],
    // Only the cleanup deletes these: the API ran as the cleanup once, and could erase its own audit trail.
    ['delete audit events', sql`delete from security_events where false`],
    ['delete sessions', sql`delete from sessions where false`],
    ['delete refresh tokens', sql`delete from refresh_tokens where false`],
    ['delete limit windows', sql`delete from rate_limits where false`],
    ['delete mail jobs', sql`delete from mail_outbox where false`],
  ])('may not %s (42501)', async (_, statement) => {
    expect(await stateOf(statement)).toBe('42501')
  })

  it.each([
    ['read users', sql`select count(*) from users`],
    ['write sessions', sql`update sessions set last_used_at = last_used_at where false`],
    ['clear failed logins', sql`delete from login_attempts where false`],
    ['use a reset link up', sql`delete from password_reset_tokens where false`],
    ['append to the audit trail', sql`insert into security_events (type) select 'nothing' where false`],
    // The one way it erases an account (migration 0017): the function, not a delete of its own.
    [
      'erase an account through erase_account',
      sql`select erase_account(-1, null, gen_random_uuid(), null, null)`,
    ],
  ])('may %s', async (_, statement) => {
    expect(await stateOf(statement)).toBe('ok')
  })

  it('has server-side timeouts of its own, which a pooler in transaction mode keeps', async () => {
    const { rows } = await admin.db.execute<{ settings: string[] }>(
      sql`select rolconfig as settings from pg_roles where rolname = 'papa_auth_api'`,
    )
    expect(rows[0]?.settings).toEqual(
      expect.arrayContaining([
        'statement_timeout=5000',
        'lock_timeout=2000',
        'idle_in_transaction_session_timeout=10000',
      ]),
    )
  })
})

describe("the cleanup's database role", () => {
  const stateOfCleanup = (statement: ReturnType<typeof sql>) =>
    cleanup.db.execute(statement).then(
      () => 'ok',
      (error: unknown) => sqlState(error) ?? 'no sqlstate',
    )

  it('is its own login role, a member of papa_auth_retention only, and no superuser', async () => {
    const { rows } = await cleanup.db.execute<{ role: string; superuser: boolean; groups: string[] }>(sql`
      select current_user as role, (select rolsuper from pg_roles where rolname = current_user) as superuser,
        array(select g.rolname::text from pg_auth_members m join pg_roles g on g.oid = m.roleid
          where m.member = (select oid from pg_roles where rolname = current_user)) as groups`)
    expect(rows).toEqual([{ role: 'papa_auth_cleanup', superuser: false, groups: ['papa_auth_retention'] }])
  })

  it.each([
    'sessions',
    'refresh_tokens',
    'login_attempts',
    'rate_limits',
    'password_reset_tokens',
    'mail_outbox',
    'security_events',
  ])('may delete from %s', async (table) => {
    expect(await stateOfCleanup(sql`delete from ${sql.identifier(table)} where false`)).toBe('ok')
  })

  it.each([
    [
      'give sessions from before the column their expiry',
      sql`update sessions set expires_at = expires_at where false`,
      'ok',
    ],
    ['revive a session', sql`update sessions set revoked_at = null where false`, '42501'],
    ['read users', sql`select count(*) from users`, '42501'],
    ['write the audit trail', sql`insert into security_events (type) select 'nothing' where false`, '42501'],
    ['rewrite the audit trail', sql`update security_events set type = 'nothing' where false`, '42501'],
    [
      'start a session',
      sql`insert into sessions (id, user_id) select gen_random_uuid(), 1 where false`,
      '42501',
    ],
    ['truncate a table', sql`truncate security_events`, '42501'],
    ['drop a table', sql`drop table sessions`, '42501'],
  ])('may %s: %s', async (_, statement, state) => {
    expect(await stateOfCleanup(statement)).toBe(state)
  })

  it('has server-side timeouts of its own: a bounded batch may take longer than a request', async () => {
    const { rows } = await admin.db.execute<{ settings: string[] }>(
      sql`select rolconfig as settings from pg_roles where rolname = 'papa_auth_cleanup'`,
    )
    expect(rows[0]?.settings).toEqual(
      expect.arrayContaining([
        'statement_timeout=10000',
        'lock_timeout=2000',
        'idle_in_transaction_session_timeout=10000',
      ]),
    )
  })
})

describe('migrate, on the login roles', () => {
  const limits = migrationLimits(loadSettings())

  it("revokes any membership of the API's role but papa_auth_app", async () => {
    // A membership left by an earlier setup, say, granted by the owner that migrate connects as.
    const stray = `stray_${process.pid}`
    const owner = createDatabase({
      url: inject('migrationUrl'),
      wsProxy: inject('wsProxy'),
      connectTimeoutMs: 3000,
      poolMax: 1,
    })
    try {
      await owner.db.execute(sql`create role ${sql.identifier(stray)} nologin`)
      await owner.db.execute(sql`grant ${sql.identifier(stray)} to papa_auth_api`)
    } finally {
      await owner.close()
    }
    await runMigrations({
      url: inject('migrationUrl'),
      wsProxy: inject('wsProxy'),
      api: { url: inject('databaseUrl'), timeouts: serverTimeouts(loadSettings()) },
      limits,
    })
    const { rows } = await admin.db.execute<{ groups: string[] }>(sql`
      select array(select g.rolname::text from pg_auth_members m join pg_roles g on g.oid = m.roleid
        where m.member = (select oid from pg_roles where rolname = 'papa_auth_api')) as groups`)
    expect(rows).toEqual([{ groups: ['papa_auth_app'] }])
    await admin.db.execute(sql`drop role ${sql.identifier(stray)}`)
  })

  it('gives a one-role setup (the owner as the API) server-side timeouts too, in its database only', async () => {
    const name = `one_role_${process.pid}_${Date.now().toString(36)}`
    await admin.db.execute(sql.raw(`create database "${name}"`))
    const url = superuserOn(name)
    await runMigrations({
      url,
      wsProxy: inject('wsProxy'),
      api: { url, timeouts: serverTimeouts(loadSettings()) },
      limits,
    })
    const { rows } = await admin.db.execute<{ settings: string[] }>(sql`
      select s.setconfig as settings from pg_db_role_setting s join pg_database d on d.oid = s.setdatabase
      where d.datname = ${name} and s.setrole = (select oid from pg_roles where rolname = current_user)`)
    expect(rows).toEqual([
      {
        settings: [
          'statement_timeout=5000',
          'lock_timeout=2000',
          'idle_in_transaction_session_timeout=10000',
        ],
      },
    ])
  })
})

describe('the test database', () => {
  it("runs production's PostgreSQL major, the stack's default neonPgVersion", async () => {
    const { rows } = await admin.db.execute<{ major: number }>(
      sql`select current_setting('server_version_num')::int / 10000 as major`,
    )
    expect(rows).toEqual([{ major: PRODUCTION_POSTGRES_MAJOR }])
  })
})
