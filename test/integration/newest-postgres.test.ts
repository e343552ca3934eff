import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDatabase } from '#db/client'
import { committedMigrations } from '#db/migrate'
import { type LocalStack, startLocalStack } from '#infra/local/local-stack'
import { NEWEST_POSTGRES_MAJOR, PRODUCTION_POSTGRES_MAJOR } from '#infra/local/postgres'

/**
 * The suite runs on production's PostgreSQL major (the stack's default `neonPgVersion`); this file applies the same
 * migrations, role split and grants on the newest major too, as the next upgrade will.
 */
let stack: LocalStack
beforeAll(async () => {
  stack = await startLocalStack({ setup: 'migrations', major: NEWEST_POSTGRES_MAJOR })
}, 90_000)
afterAll(() => stack?.stop())

describe(`PostgreSQL ${NEWEST_POSTGRES_MAJOR}`, () => {
  it('runs the migrations and the role split, as production does on its own major', async () => {
    expect(NEWEST_POSTGRES_MAJOR).toBeGreaterThan(PRODUCTION_POSTGRES_MAJOR)
    expect(stack.migrations).toEqual({
      applied: committedMigrations().length,
      total: committedMigrations().length,
    })
    const api = createDatabase({
      url: stack.databaseUrl,
      wsProxy: stack.wsProxy,
      connectTimeoutMs: 3000,
      poolMax: 1,
    })
    try {
      const { rows } = await api.pool.query(
        "select current_setting('server_version_num')::int / 10000 as major, current_user as role",
      )
      expect(rows).toEqual([{ major: NEWEST_POSTGRES_MAJOR, role: 'papa_auth_api' }])
      await expect(api.pool.query('drop table users')).rejects.toMatchObject({ code: '42501' })
    } finally {
      await api.close()
    }
  })
})
