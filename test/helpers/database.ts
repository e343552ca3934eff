import { inject } from 'vitest'
import { createDatabase, type DatabaseHandle } from '#db/client'

/** A direct handle on the test database (or another database on its server), through the Neon driver. */
export function testDatabase(url = inject('databaseUrl')): DatabaseHandle {
  return createDatabase({ url, wsProxy: inject('wsProxy'), connectTimeoutMs: 3000, poolMax: 4 })
}
