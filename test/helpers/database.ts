import { inject } from 'vitest'
import { createDatabase, type DatabaseHandle } from '#db/client'

/**
 * A handle on the service's database as the cluster's superuser (or on another database of the cluster), through the
 * Neon driver: tests look at and arrange rows the API's role may not touch.
 */
export function testDatabase(url = superuserOn('papa_auth')): DatabaseHandle {
  return createDatabase({ url, wsProxy: inject('wsProxy'), connectTimeoutMs: 3000, poolMax: 4 })
}

/** The superuser's connection string for `database` on the test cluster: a one-role setup, as a developer's own. */
export function superuserOn(database: string): string {
  const url = new URL(inject('superuserUrl'))
  url.pathname = `/${database}`
  return url.toString()
}
