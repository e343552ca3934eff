import { drizzle, type NeonDatabase } from 'drizzle-orm/neon-serverless'
import { inject } from 'vitest'
import { createDatabase, type DatabaseHandle } from '#db/client'
import * as schema from '#db/schema'

/** The service's handle, with drizzle's full database object on its pool: tests arrange rows with the query builder. */
export type TestDatabase = Omit<DatabaseHandle, 'db'> & {
  db: NeonDatabase<typeof schema>
  /** The service's own executor on the same pool, for a repository under test. */
  service: DatabaseHandle['db']
}

/**
 * A handle on the service's database as the cluster's superuser (or on another database of the cluster), through the
 * Neon driver: tests look at and arrange rows the API's role may not touch.
 */
export function testDatabase(url = superuserOn('papa_auth')): TestDatabase {
  const handle = createDatabase({ url, wsProxy: inject('wsProxy'), connectTimeoutMs: 3000, poolMax: 4 })
  return { ...handle, service: handle.db, db: drizzle({ client: handle.pool, schema }) }
}

/** The superuser's connection string for `database` on the test cluster: a one-role setup, as a developer's own. */
export function superuserOn(database: string): string {
  const url = new URL(inject('superuserUrl'))
  url.pathname = `/${database}`
  return url.toString()
}
