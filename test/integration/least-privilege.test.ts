import { sql } from 'drizzle-orm'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { createDatabase } from '#db/client'
import { sqlState } from '#db/errors'
import { PRODUCTION_POSTGRES_MAJOR } from '#infra/local/postgres'
import { testDatabase } from '#test/helpers/database'

/** The connection the API functions use (the API's role), and what the database answers it. */
const api = createDatabase({
  url: inject('databaseUrl'),
  wsProxy: inject('wsProxy'),
  connectTimeoutMs: 3000,
  poolMax: 2,
})
const admin = testDatabase()
afterAll(async () => {
  await api.close()
  await admin.close()
})

const stateOf = (statement: ReturnType<typeof sql>) =>
  api.db.execute(statement).then(
    () => 'ok',
    (error: unknown) => sqlState(error) ?? 'no sqlstate',
  )

describe("the API's database role", () => {
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
  ])('may not %s (42501)', async (_, statement) => {
    expect(await stateOf(statement)).toBe('42501')
  })

  it.each([
    ['read users', sql`select count(*) from users`],
    ['write sessions', sql`update sessions set last_used_at = last_used_at where false`],
    ['delete expired tokens', sql`delete from refresh_tokens where false`],
    ['append to the audit trail', sql`insert into security_events (type) select 'nothing' where false`],
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

describe('the test database', () => {
  it("runs production's PostgreSQL major, the stack's default neonPgVersion", async () => {
    const { rows } = await admin.db.execute<{ major: number }>(
      sql`select current_setting('server_version_num')::int / 10000 as major`,
    )
    expect(rows).toEqual([{ major: PRODUCTION_POSTGRES_MAJOR }])
  })
})
