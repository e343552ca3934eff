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
}): Promise<MigrationResult> {
  const migrationsFolder = options.migrationsFolder ?? defaultMigrationsFolder()
  const total = readMigrationFiles({ migrationsFolder }).length
  const client = await connectDirect(options.url, options.wsProxy)
  try {
    const db = drizzle({ client })
    await db.execute(sql`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`)
    try {
      const before = await appliedCount(db)
      await migrate(db, { migrationsFolder })
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
