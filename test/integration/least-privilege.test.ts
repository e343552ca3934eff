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

/**
 * Every privilege `role` holds on this database, as it would use it (through the roles it inherits, and PUBLIC's):
 * on each table, view and sequence outside PostgreSQL's own schemas, on single columns where not on a whole table,
 * on each schema, function and the database itself, and the roles it may become. One line each, sorted: compared with
 * an allowlist, so a grant no test names (ALL on a table, a default privilege, a function's EXECUTE to PUBLIC) fails.
 */
async function privilegesOf(role: string): Promise<string[]> {
  const { rows } = await admin.db.execute<{ line: string }>(sql`
    with objects as (
      select c.oid, c.relkind, n.nspname || '.' || c.relname as name from pg_class c
      join pg_namespace n on n.oid = c.relnamespace
      where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'
        and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
    ), table_privileges as (
      select 'table ' || o.name || ': ' || p as line, o.oid, p from objects o
      cross join unnest(array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p
      where o.relkind <> 'S' and has_table_privilege(${role}, o.oid, p)
    )
    select line from table_privileges
    union all
    select 'column ' || o.name || '.' || a.attname || ': ' || p from objects o
    join pg_attribute a on a.attrelid = o.oid and a.attnum > 0 and not a.attisdropped
    cross join unnest(array['SELECT', 'INSERT', 'UPDATE', 'REFERENCES']) p
    where o.relkind <> 'S' and has_column_privilege(${role}, o.oid, a.attnum, p)
      and not has_table_privilege(${role}, o.oid, p)
    union all
    select 'sequence ' || o.name || ': ' || p from objects o
    cross join unnest(array['USAGE', 'SELECT', 'UPDATE']) p
    where o.relkind = 'S' and has_sequence_privilege(${role}, o.oid, p)
    union all
    select 'schema ' || n.nspname || ': ' || p from pg_namespace n
    cross join unnest(array['USAGE', 'CREATE']) p
    where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'
      and n.nspname not like 'pg_temp%' and has_schema_privilege(${role}, n.oid, p)
    union all
    select 'function ' || n.nspname || '.' || f.proname || '(' || pg_get_function_identity_arguments(f.oid) || ')'
      || ': EXECUTE' from pg_proc f join pg_namespace n on n.oid = f.pronamespace
    where n.nspname not in ('pg_catalog', 'information_schema') and has_function_privilege(${role}, f.oid, 'EXECUTE')
      -- Extensions' functions are PostgreSQL's (pgcrypto and the like), executable by anyone.
      and not exists (select 1 from pg_depend d where d.objid = f.oid and d.deptype = 'e')
    union all
    select 'database: ' || p from unnest(array['CREATE', 'TEMPORARY']) p
    where has_database_privilege(${role}, current_database(), p)
    union all
    select 'role ' || r.rolname || ': ' || p from pg_roles r
    cross join unnest(array['MEMBER', 'USAGE', 'SET']) p
    where r.rolname <> ${role} and left(r.rolname, 3) <> 'pg_' and pg_has_role(${role}, r.oid, p)
    union all
    select 'attribute: ' || a from pg_roles r
    cross join lateral (values ('SUPERUSER', r.rolsuper), ('CREATEROLE', r.rolcreaterole), ('CREATEDB', r.rolcreatedb),
      ('REPLICATION', r.rolreplication), ('BYPASSRLS', r.rolbypassrls)) as attribute(a, held)
    where r.rolname = ${role} and held
    order by 1`)
  return rows.map((row) => row.line)
}

/**
 * The API role's privileges, each one used by a statement of `db/` (an upsert needs UPDATE with its INSERT). Nothing
 * on `user_preferences` or any user-owned table: those are reached only as `papa_auth_user`, which the role may SET
 * but does not inherit (migration 0023). No DELETE on sessions, refresh tokens, limit windows, mail jobs or the audit
 * trail (the cleanup's), none on users (`erase_account` deletes, under its checks), no TRUNCATE, REFERENCES or
 * TRIGGER anywhere, no CREATE on any schema.
 */
const API_PRIVILEGES = [
  // PUBLIC's default on every database: a temporary table holds nothing of anyone's and ends with the session.
  'database: TEMPORARY',
  // The one user id a row-level policy compares with (migration 0023).
  'function papa_auth.uid(): EXECUTE',
  // The one way the API erases an account, with its checks (migration 0021); revoked from PUBLIC.
  'function public.erase_account(p_user_id integer, p_actor_id integer, p_notice_id uuid, p_source_ip character varying, p_user_agent character varying, p_session_id uuid, p_credential_version integer, p_notify boolean): EXECUTE',
  'function public.erase_account_by_link(p_token_hash text, p_notice_id uuid, p_source_ip character varying, p_user_agent character varying, p_notify boolean): EXECUTE',
  // Trigger functions, PUBLIC's default: PostgreSQL runs them only as triggers, never when called.
  'function public.security_events_forget_erased(): EXECUTE',
  'function public.set_updated_at(): EXECUTE',
  'function public.users_deactivation_voids(): EXECUTE',
  // Its group, and the row-level-secured role it may become inside a user scope but does not inherit (no USAGE).
  'role papa_auth_app: MEMBER',
  'role papa_auth_app: SET',
  'role papa_auth_app: USAGE',
  'role papa_auth_user: MEMBER',
  'role papa_auth_user: SET',
  'schema papa_auth: USAGE',
  'schema public: USAGE',
  'sequence public.security_events_id_seq: USAGE',
  'sequence public.users_id_seq: USAGE',
  // Deletion links: issued (an upsert) by the mail sender, used up by erase_account_by_link.
  'table public.account_deletion_tokens: DELETE',
  'table public.account_deletion_tokens: INSERT',
  'table public.account_deletion_tokens: SELECT',
  'table public.account_deletion_tokens: UPDATE',
  // Email codes: issued, tried (a counter), used up.
  'table public.email_codes: DELETE',
  'table public.email_codes: INSERT',
  'table public.email_codes: SELECT',
  'table public.email_codes: UPDATE',
  // Failed-login counters: counted (an upsert), cleared by a success or a password change.
  'table public.login_attempts: DELETE',
  'table public.login_attempts: INSERT',
  'table public.login_attempts: SELECT',
  'table public.login_attempts: UPDATE',
  // Mail jobs: queued, claimed and settled by the sender; deleted only by the cleanup.
  'table public.mail_outbox: INSERT',
  'table public.mail_outbox: SELECT',
  'table public.mail_outbox: UPDATE',
  // Reset links: issued (an upsert), used up by their confirmation, voided.
  'table public.password_reset_tokens: DELETE',
  'table public.password_reset_tokens: INSERT',
  'table public.password_reset_tokens: SELECT',
  'table public.password_reset_tokens: UPDATE',
  // Limit windows and the login turn counter: upserts; expired windows are the cleanup's.
  'table public.rate_limits: INSERT',
  'table public.rate_limits: SELECT',
  'table public.rate_limits: UPDATE',
  // Refresh tokens: stored, retired on rotation.
  'table public.refresh_tokens: INSERT',
  'table public.refresh_tokens: SELECT',
  'table public.refresh_tokens: UPDATE',
  // The audit trail: appended to and read (the export, the admin's view); never rewritten.
  'table public.security_events: INSERT',
  'table public.security_events: SELECT',
  // Sessions: started, touched, revoked (an update: the row stays for the audit).
  'table public.sessions: INSERT',
  'table public.sessions: SELECT',
  'table public.sessions: UPDATE',
  'table public.users: INSERT',
  'table public.users: SELECT',
  'table public.users: UPDATE',
]

/** The cleanup role's privileges: reading and deleting what has expired, and the one backfill of 0009. */
const CLEANUP_PRIVILEGES = [
  // Sessions from before the column get their expiry (migration 0009): that column only.
  'column public.sessions.expires_at: UPDATE',
  'database: TEMPORARY',
  'function public.security_events_forget_erased(): EXECUTE',
  'function public.set_updated_at(): EXECUTE',
  'function public.users_deactivation_voids(): EXECUTE',
  'role papa_auth_retention: MEMBER',
  'role papa_auth_retention: SET',
  'role papa_auth_retention: USAGE',
  'schema public: USAGE',
  ...[
    'account_deletion_tokens',
    'email_codes',
    'login_attempts',
    'mail_outbox',
    'password_reset_tokens',
    'rate_limits',
    'refresh_tokens',
    'security_events',
    'sessions',
  ].flatMap((table) => [`table public.${table}: DELETE`, `table public.${table}: SELECT`]),
]

const stateOf = (statement: ReturnType<typeof sql>) =>
  api.db.execute(statement).then(
    () => 'ok',
    (error: unknown) => sqlState(error) ?? 'no sqlstate',
  )

describe("the API's database role", () => {
  it('holds exactly the privileges of its allowlist: each one a statement of the API needs', async () => {
    expect(await privilegesOf('papa_auth_api')).toEqual(API_PRIVILEGES)
  })

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
      sql`select erase_account(-1, null, gen_random_uuid(), null, null, null, null, false)`,
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
  it('holds exactly the privileges of its allowlist: the deletes of the cleanup, and nothing else', async () => {
    expect(await privilegesOf('papa_auth_cleanup')).toEqual(CLEANUP_PRIVILEGES)
  })

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
