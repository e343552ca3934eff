import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type SQL, sql } from 'drizzle-orm'
import { readMigrationFiles } from 'drizzle-orm/migrator'
import { drizzle, type NeonDatabase } from 'drizzle-orm/neon-serverless'
import { connectDirect } from './client.ts'
import { sqlState } from './errors.ts'

/** An arbitrary constant that names this service's migration lock among the database's advisory locks. */
export const MIGRATION_LOCK_KEY = 7_326_551_204

/**
 * The committed drizzle-kit output. In the repository it sits beside this file (`db/migrations`); the migrate
 * function's bundle carries it beside the bundle (`migrations/`), so the same relative URL finds it in both.
 */
export const defaultMigrationsFolder = () => fileURLToPath(new URL('./migrations', import.meta.url))

export interface MigrationResult {
  applied: number
  total: number
}

/** A login role migrate cannot bring in line; the message names the role and what to do. */
export class MigrationRoleError extends Error {
  override readonly name = 'MigrationRoleError'
}

/** A migration that cannot be applied safely as committed; the message says why and what to do. */
export class MigrationJournalError extends Error {
  override readonly name = 'MigrationJournalError'
}

/** Another migrate held the migration lock for longer than this one could wait. */
export class MigrationLockTimeoutError extends Error {
  override readonly name = 'MigrationLockTimeoutError'
}

/** The first line of a migration that must run outside a transaction (CREATE INDEX CONCURRENTLY, …). */
export const NO_TRANSACTION_MARKER = '-- migrate: no-transaction'

export interface CommittedMigration {
  tag: string
  sql: string[]
  folderMillis: number
  hash: string
  inTransaction: boolean
}

/** The committed migrations, in order, with their journal tags. */
export function committedMigrations(migrationsFolder = defaultMigrationsFolder()): CommittedMigration[] {
  const journal = JSON.parse(readFileSync(join(migrationsFolder, 'meta', '_journal.json'), 'utf8')) as {
    entries: { tag: string; when: number }[]
  }
  const tags = new Map(journal.entries.map((entry) => [entry.when, entry.tag]))
  return readMigrationFiles({ migrationsFolder }).map((migration) => ({
    tag: tags.get(migration.folderMillis) ?? String(migration.folderMillis),
    sql: migration.sql,
    folderMillis: migration.folderMillis,
    hash: migration.hash,
    inTransaction: !migration.sql[0]?.trimStart().startsWith(NO_TRANSACTION_MARKER),
  }))
}

/**
 * What is left to apply, after checking the database's journal against the committed files: a committed migration
 * whose content changed after it was applied, or one missing while a later one is applied (merged late from an
 * older branch), is refused with the reason. drizzle's own migrator compares only dates, so it would skip the second
 * silently and never notice the first.
 */
export function pendingMigrations(
  committed: readonly CommittedMigration[],
  applied: readonly { hash: string; createdAt: number }[],
): CommittedMigration[] {
  const appliedAt = new Map(applied.map((row) => [row.createdAt, row.hash]))
  const lastApplied = Math.max(0, ...applied.map((row) => row.createdAt))
  const pending: CommittedMigration[] = []
  for (const migration of committed) {
    const hash = appliedAt.get(migration.folderMillis)
    if (hash !== undefined && hash !== migration.hash) {
      throw new MigrationJournalError(
        `migration ${migration.tag} was changed after it was applied; restore it and put the change in a new migration (npm run db:generate)`,
      )
    }
    if (hash !== undefined) continue
    if (migration.folderMillis < lastApplied) {
      throw new MigrationJournalError(
        `migration ${migration.tag} is not applied, but a later one is: it was merged after that one ran. Regenerate it so it comes last (npm run db:generate), or move its content into a new migration`,
      )
    }
    pending.push(migration)
  }
  return pending
}

export interface MigrationLimits {
  /** How long to wait for a concurrent migrate's lock before failing. */
  lockWaitMs: number
  /** How long a migration statement may wait for a table lock: a busy table fails the deploy, it never stalls logins. */
  statementLockTimeoutMs: number
}

/**
 * Applies the committed migrations over one direct (unpooled) connection, each in its own transaction (a file
 * marked no-transaction statement by statement), under a session advisory lock: a second concurrent run waits,
 * within `lockWaitMs`, then finds nothing left to apply. Idempotent. Each statement waits at most
 * `statementLockTimeoutMs` for a table lock: a long queue behind a migration's lock would stall every request.
 */
export async function runMigrations(options: {
  url: string
  wsProxy?: string | undefined
  migrationsFolder?: string
  /** The API's own connection: its role is created (or aligned) with the app role's privileges and its timeouts. */
  api?: LoginRole | undefined
  /** The cleanup's own connection, when it has one: its role, likewise, with the retention role's privileges. */
  cleanup?: LoginRole | undefined
  limits: MigrationLimits
}): Promise<MigrationResult> {
  const committed = committedMigrations(options.migrationsFolder)
  const { limits } = options
  const client = await connectDirect(options.url, options.wsProxy)
  try {
    const db = drizzle({ client })
    // Migrations may run long: no statement timeout, whatever the database's defaults; lock waits are bounded.
    await db.execute(sql`set statement_timeout = 0`)
    await lockMigrations(db, limits.lockWaitMs)
    try {
      await db.execute(
        sql.raw(`set lock_timeout = ${Math.max(1, Math.trunc(limits.statementLockTimeoutMs))}`),
      )
      await db.execute(sql`create schema if not exists drizzle`)
      await db.execute(sql`create table if not exists drizzle.__drizzle_migrations (
        id serial primary key, hash text not null, created_at bigint)`)
      const applied = await db.execute<{ hash: string; created_at: string }>(
        sql`select hash, created_at from drizzle.__drizzle_migrations order by created_at`,
      )
      const pending = pendingMigrations(
        committed,
        applied.rows.map((row) => ({ hash: row.hash, createdAt: Number(row.created_at) })),
      )
      for (const migration of pending) await apply(db, migration)
      await ensureLoginRoles(db, options.api, options.cleanup)
      return { applied: pending.length, total: committed.length }
    } finally {
      await db.execute(sql`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`)
    }
  } finally {
    await client.end()
  }
}

type Executor = Pick<NeonDatabase, 'execute'>

/** How often a migrate waiting for another's lock asks again. */
const LOCK_POLL_MS = 200

/**
 * Takes the migration lock, asking again every LOCK_POLL_MS within `lockWaitMs`. Never a blocking
 * `pg_advisory_lock`: a statement waiting on it holds a snapshot, and the other run's CREATE INDEX CONCURRENTLY
 * waits for every snapshot older than its own to go, so the two would deadlock.
 */
async function lockMigrations(db: Executor, lockWaitMs: number): Promise<void> {
  const deadline = Date.now() + lockWaitMs
  for (;;) {
    const { rows } = await db.execute<{ locked: boolean }>(
      sql`select pg_try_advisory_lock(${MIGRATION_LOCK_KEY}) as locked`,
    )
    if (rows[0]?.locked) return
    const left = deadline - Date.now()
    if (left <= 0) {
      throw new MigrationLockTimeoutError(
        `another migrate held the migration lock for more than ${lockWaitMs} ms; retry the deploy once it has finished`,
      )
    }
    await new Promise((done) => setTimeout(done, Math.min(LOCK_POLL_MS, left)))
  }
}

/** The index a `CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS` statement builds. */
const CONCURRENT_INDEX_BUILD =
  /\bcreate\s+(?:unique\s+)?index\s+concurrently\s+if\s+not\s+exists\s+"?(\w+)"?/i

/**
 * A concurrent build that failed (a lock wait timed out, a duplicate key, the deploy cut off) leaves its index behind,
 * invalid: `IF NOT EXISTS` would then skip it for good on the next run. Dropped first, so the retry builds it.
 */
async function dropInvalidIndex(db: Executor, index: string): Promise<void> {
  const { rows } = await db.execute<{ invalid: boolean }>(sql`
    select not i.indisvalid as invalid from pg_index i join pg_class c on c.oid = i.indexrelid
    where c.relname = ${index} and c.relnamespace = 'public'::regnamespace`)
  if (rows[0]?.invalid) await db.execute(sql`drop index concurrently if exists ${sql.identifier(index)}`)
}

/** One migration and its journal row: in a transaction of its own, or statement by statement when marked so. */
async function apply(db: Executor, migration: CommittedMigration): Promise<void> {
  const record = sql`insert into drizzle.__drizzle_migrations (hash, created_at)
    values (${migration.hash}, ${migration.folderMillis})`
  if (!migration.inTransaction) {
    for (const statement of migration.sql) {
      const index = CONCURRENT_INDEX_BUILD.exec(statement)?.[1]
      if (index) await dropInvalidIndex(db, index)
      await db.execute(sql.raw(statement))
    }
    await db.execute(record)
    return
  }
  await db.execute(sql`begin`)
  try {
    for (const statement of migration.sql) await db.execute(sql.raw(statement))
    await db.execute(record)
    await db.execute(sql`commit`)
  } catch (error) {
    await db.execute(sql`rollback`).catch(() => undefined)
    throw error
  }
}

/** The role migration 0004 grants the API's privileges to. */
export const APP_ROLE = 'papa_auth_app'

/** The role migration 0009 grants the cleanup's privileges to: read and delete what it purges, nothing else. */
export const RETENTION_ROLE = 'papa_auth_retention'

/** What the server enforces on every statement of a login role, so an abandoned statement stops there too. */
export interface ServerTimeouts {
  statementMs: number
  lockMs: number
  idleInTransactionMs: number
}

/** A login role migrate makes from its connection string: the API's, or the cleanup's. */
export interface LoginRole {
  url: string
  timeouts: ServerTimeouts
}

/**
 * The API's login role (a member of `papa_auth_app`) and, when the cleanup has a connection of its own, the
 * cleanup's (a member of `papa_auth_retention`). A cleanup connecting as the API's role or the migrating one is left
 * to that role's settings.
 */
async function ensureLoginRoles(
  db: Executor,
  api: LoginRole | undefined,
  cleanup: LoginRole | undefined,
): Promise<void> {
  if (api) await ensureLoginRole(db, api, APP_ROLE)
  if (!cleanup) return
  const name = roleOf(cleanup.url)
  const [me] = (await db.execute<{ role: string }>(sql`select current_user as role`)).rows
  if (name && name !== me?.role && (!api || name !== roleOf(api.url)))
    await ensureLoginRole(db, cleanup, RETENTION_ROLE)
}

const roleOf = (url: string) => decodeURIComponent(new URL(url).username)

/**
 * Creates a login role (named, with its password, by its connection string), or brings an existing one in line: its
 * password, membership of `group` and of nothing else (any other is revoked, whoever granted it), and its
 * server-side timeouts. The migrating role creates it with SQL, so it holds ADMIN on it and the role gets no
 * privilege but those granted here (a role made through Neon's API would join `neon_superuser`). Role settings are
 * what a transaction-mode pooler (Neon's) keeps. When the connection string names the migrating role itself (a
 * one-role setup, such as a developer's own database), that role keeps its privileges and gets the timeouts, in
 * this database only: migrate and cutover set their own for their sessions.
 */
async function ensureLoginRole(db: Executor, login: LoginRole, group: string): Promise<void> {
  const role = roleOf(login.url)
  if (!role) return
  const current = await db.execute<{ role: string; database: string; exists: boolean }>(
    sql`select current_user as role, current_database() as database,
      exists (select 1 from pg_roles where rolname = ${role}) as exists`,
  )
  const [me] = current.rows
  if (!me) return
  const name = sql.identifier(role)
  if (me.role === role) {
    await setTimeouts(db, sql`${name} in database ${sql.identifier(me.database)}`, login.timeouts)
    return
  }
  // A role's password cannot be a bound parameter; it is quoted as a literal.
  const password = sql.raw(`'${decodeURIComponent(new URL(login.url).password).replaceAll("'", "''")}'`)
  await db.execute(
    me.exists
      ? sql`alter role ${name} with login password ${password}`
      : sql`create role ${name} with login nocreatedb nocreaterole password ${password}`,
  )
  await db.execute(sql`grant ${sql.identifier(group)} to ${name}`)
  const others = await db.execute<{ granted: string; grantor: string }>(sql`
    select g.rolname as granted, b.rolname as grantor
    from pg_auth_members m join pg_roles g on g.oid = m.roleid join pg_roles b on b.oid = m.grantor
    where m.member = (select oid from pg_roles where rolname = ${role}) and g.rolname <> ${group}`)
  for (const { granted, grantor } of others.rows) {
    try {
      await db.execute(
        sql`revoke ${sql.identifier(granted)} from ${name} granted by ${sql.identifier(grantor)}`,
      )
    } catch (error) {
      if (sqlState(error) !== '42501') throw error
      throw new MigrationRoleError(
        `the role ${role} is a member of ${granted} (granted by ${grantor}), which the migrating role may not revoke: revoke it as ${grantor} (REVOKE ${granted} FROM ${role}), then deploy again`,
      )
    }
  }
  await setTimeouts(db, sql`${name}`, login.timeouts)
}

async function setTimeouts(db: Executor, target: SQL, timeouts: ServerTimeouts): Promise<void> {
  for (const [setting, ms] of [
    ['statement_timeout', timeouts.statementMs],
    ['lock_timeout', timeouts.lockMs],
    ['idle_in_transaction_session_timeout', timeouts.idleInTransactionMs],
  ] as const) {
    await db.execute(
      sql`alter role ${target} set ${sql.identifier(setting)} = ${sql.raw(String(Math.trunc(ms)))}`,
    )
  }
}
