import { fileURLToPath } from 'node:url'
import { sql } from 'drizzle-orm'
import { readMigrationFiles } from 'drizzle-orm/migrator'
import { drizzle, type NeonDatabase } from 'drizzle-orm/neon-serverless'
import { migrate } from 'drizzle-orm/neon-serverless/migrator'
import { connectDirect } from './client.ts'

/** An arbitrary constant that names this service's migration lock among the database's advisory locks. */
const MIGRATION_LOCK_KEY = 7_326_551_204

/**
 * The committed drizzle-kit output. In the repository it sits beside this file (`db/migrations`); the migrate
 * function's bundle carries it beside the bundle (`migrations/`), so the same relative URL finds it in both.
 */
export const defaultMigrationsFolder = () => fileURLToPath(new URL('./migrations', import.meta.url))

export interface MigrationResult {
  applied: number
  total: number
}

/**
 * Applies the committed migrations over one direct (unpooled) connection, inside a transaction, under a
 * session advisory lock: a second concurrent run waits, then finds nothing left to apply. Idempotent.
 */
export async function runMigrations(options: {
  url: string
  wsProxy?: string | undefined
  migrationsFolder?: string
  /** The API's own connection: its role is created (or aligned) with the app role's privileges and its timeouts. */
  api?: { url: string; timeouts: ServerTimeouts } | undefined
}): Promise<MigrationResult> {
  const migrationsFolder = options.migrationsFolder ?? defaultMigrationsFolder()
  const total = readMigrationFiles({ migrationsFolder }).length
  const client = await connectDirect(options.url, options.wsProxy)
  try {
    const db = drizzle({ client })
    // Migrations may run long and take strong locks: whatever the database's defaults, no timeout here.
    await db.execute(sql`set statement_timeout = 0`)
    await db.execute(sql`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`)
    try {
      const before = await appliedCount(db)
      await migrate(db, { migrationsFolder })
      if (options.api) await ensureApiRole(db, options.api.url, options.api.timeouts)
      return { applied: (await appliedCount(db)) - before, total }
    } finally {
      await db.execute(sql`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`)
    }
  } finally {
    await client.end()
  }
}

async function appliedCount(db: Pick<NeonDatabase, 'execute'>): Promise<number> {
  const exists = await db.execute<{ present: boolean }>(
    sql`select to_regclass('drizzle.__drizzle_migrations') is not null as present`,
  )
  if (!exists.rows[0]?.present) return 0
  const result = await db.execute<{ count: string }>(
    sql`select count(*)::text as count from drizzle.__drizzle_migrations`,
  )
  return Number(result.rows[0]?.count ?? 0)
}

/** The role migration 0004 grants the API's privileges to. */
export const APP_ROLE = 'papa_auth_app'

/** What the server enforces on every statement of the API's role, so an abandoned statement stops there too. */
export interface ServerTimeouts {
  statementMs: number
  lockMs: number
  idleInTransactionMs: number
}

/**
 * Creates the API's login role (named, with its password, by the API's connection string), or brings an existing
 * one in line: its password, membership of the app role and nothing else, and its server-side timeouts. The
 * migrating role creates it with SQL, so it holds ADMIN on it and the role gets no privilege but those granted here
 * (a role made through Neon's API would join `neon_superuser`). Role settings are what a transaction-mode pooler
 * (Neon's) keeps. Skipped when the API connects as the migrating role itself (a one-role setup, such as a
 * developer's own database), which is then left exactly as it is.
 */
async function ensureApiRole(
  db: Pick<NeonDatabase, 'execute'>,
  apiUrl: string,
  timeouts: ServerTimeouts,
): Promise<void> {
  const url = new URL(apiUrl)
  const role = decodeURIComponent(url.username)
  const current = await db.execute<{ role: string; exists: boolean }>(
    sql`select current_user as role, exists (select 1 from pg_roles where rolname = ${role}) as exists`,
  )
  const [me] = current.rows
  if (!role || !me || me.role === role) return
  const name = sql.identifier(role)
  // A role's password cannot be a bound parameter; it is quoted as a literal.
  const password = sql.raw(`'${decodeURIComponent(url.password).replaceAll("'", "''")}'`)
  await db.execute(
    me.exists
      ? sql`alter role ${name} with login password ${password}`
      : sql`create role ${name} with login nocreatedb nocreaterole password ${password}`,
  )
  await db.execute(sql`grant ${sql.identifier(APP_ROLE)} to ${name}`)
  for (const [setting, ms] of [
    ['statement_timeout', timeouts.statementMs],
    ['lock_timeout', timeouts.lockMs],
    ['idle_in_transaction_session_timeout', timeouts.idleInTransactionMs],
  ] as const) {
    await db.execute(
      sql`alter role ${name} set ${sql.identifier(setting)} = ${sql.raw(String(Math.trunc(ms)))}`,
    )
  }
}
