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
  /** The API's own connection: its role is made a member of the app role and given its server-side timeouts. */
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
      const separateApiRole = options.api ? await grantAppRole(db, options.api.url) : false
      const result = { applied: (await appliedCount(db)) - before, total }
      // A setup with one role for everything (a developer's own database) keeps its role's settings untouched.
      if (options.api && separateApiRole)
        await setServerTimeouts(options.api.url, options.wsProxy, options.api.timeouts)
      return result
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
 * Makes the API's login role a member of the app role, unless it is the migrating role itself (a one-role setup);
 * true when it is a role of its own.
 */
async function grantAppRole(db: Pick<NeonDatabase, 'execute'>, apiUrl: string): Promise<boolean> {
  const apiRole = decodeURIComponent(new URL(apiUrl).username)
  const current = await db.execute<{ role: string }>(sql`select current_user as role`)
  if (!apiRole || current.rows[0]?.role === apiRole) return false
  await db.execute(sql`grant ${sql.identifier(APP_ROLE)} to ${sql.identifier(apiRole)}`)
  return true
}

/**
 * Sets the API role's own defaults, connected as that role: a role may always set its own, and role settings are
 * what a connection pooler in transaction mode (Neon's) keeps. New connections get them; open ones keep theirs.
 */
async function setServerTimeouts(apiUrl: string, wsProxy: string | undefined, timeouts: ServerTimeouts) {
  const client = await connectDirect(apiUrl, wsProxy)
  try {
    const db = drizzle({ client })
    for (const [name, ms] of [
      ['statement_timeout', timeouts.statementMs],
      ['lock_timeout', timeouts.lockMs],
      ['idle_in_transaction_session_timeout', timeouts.idleInTransactionMs],
    ] as const) {
      await db.execute(
        sql`alter role current_user set ${sql.identifier(name)} = ${sql.raw(String(Math.trunc(ms)))}`,
      )
    }
  } finally {
    await client.end()
  }
}
