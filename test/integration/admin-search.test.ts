/**
 * The admin list's search at volume: 100,000 accounts on a database of this file's own, migrated by the committed
 * migrations, and the plan of the statement the repository runs (`listStatement`): a prefix of an email or a username
 * is served by its pattern index, never by reading the table. docs/performance.md has the plan at a million.
 */
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { runMigrations } from '#db/migrate'
import { createAdminRepository, listStatement } from '#db/repositories/admin-users'
import { migrationLimits } from '#shared/app/operations'
import { loadSettings } from '#shared/platform/config'
import { testDatabase } from '#test/helpers/database'
import { dropDatabase, legacyDatabase } from '#test/helpers/legacy-database'

const ACCOUNTS = 100_000
const database = await legacyDatabase('admin_search', '')
await runMigrations({
  url: database.ownerUrl,
  wsProxy: inject('wsProxy'),
  limits: migrationLimits(loadSettings()),
})
const own = testDatabase(database.ownerUrl)

beforeAll(async () => {
  // Signed up as students do: a third without a username, usernames and emails sharing no common start.
  await own.db.execute(sql`insert into users (email, username, hashed_password)
    select 'student' || i || '@example.edu', case when i % 3 = 0 then null else 'Learner_' || i end, 'x'
    from generate_series(1, ${ACCOUNTS}::int) as i`)
  await own.db.execute(sql`analyze users`)
}, 120_000)

afterAll(async () => {
  await own.close()
  await dropDatabase(database)
})

const planOf = async (query: Parameters<typeof listStatement>[0]) =>
  (await own.db.execute<{ 'QUERY PLAN': string }>(sql`explain ${listStatement(query)}`)).rows
    .map((row) => row['QUERY PLAN'])
    .join('\n')

const search = { limit: 50, before: null, isActive: null, isSuperuser: null }

describe('the admin search at 100,000 accounts', () => {
  it('finds the start of an email or a username through their pattern indexes, never a scan of users', async () => {
    const plan = await planOf({ ...search, prefix: 'student4242' })
    expect(plan).toMatch(/users_email_prefix_idx/)
    expect(plan).toMatch(/users_username_prefix_idx/)
    expect(plan).not.toMatch(/Seq Scan/)
  })

  it('answers the accounts whose username starts with the prefix, whatever its case, newest first', async () => {
    const admin = createAdminRepository(own.service)
    const { users, more } = await admin.list({ ...search, prefix: 'learner_9999' })
    // Learner_9999 and Learner_99990 to 99999, less those a multiple of 3 (no username): newest first.
    expect(users.map((user) => user.username)).toEqual([
      'Learner_99998',
      'Learner_99997',
      'Learner_99995',
      'Learner_99994',
      'Learner_99992',
      'Learner_99991',
    ])
    expect(more).toBe(false)
  })
})
