import { inject } from 'vitest'
import { createDatabase, type DatabaseHandle } from '#db/client'

/** A direct handle on the test database, through the Neon driver, for arranging and checking rows. */
export function testDatabase(): DatabaseHandle {
  return createDatabase({
    url: inject('databaseUrl'),
    wsProxy: inject('wsProxy'),
    connectTimeoutMs: 3000,
    poolMax: 4,
  })
}
