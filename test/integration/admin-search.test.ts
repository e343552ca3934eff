/**
 * The admin list's search at volume: 100,000 accounts on a database of this file's own, migrated by the committed
 * migrations, and the plan of the statement the repository runs (`listStatement`): a prefix of an email or a username
 * is served by its pattern index, never by reading the table. docs/performance.md has the plan at a million.
 */
import { writeFileSync } from 'node:fs'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { runMigrations } from '#db/migrate'
import { createAdminRepository, listStatement } from '#db/repositories/admin-users'
import { migrationLimits } from '#shared/app/operations'
import { loadSettings } from '#shared/platform/config'
import { testDatabase } from '#test/helpers/database'
import { dropDatabase, legacyDatabase } from '#test/helpers/legacy-database'

/** 100,000 in `npm test`; `ADMIN_SEARCH_ACCOUNTS=1000000` for the figure in docs/performance.md (its plan is then kept). */
const ACCOUNTS = Number(process.env.ADMIN_SEARCH_ACCOUNTS ?? 100_000)
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
}, 600_000)

afterAll(async () => {
  await own.close()
  await dropDatabase(database)
})

const planOf = async (query: Parameters<typeof listStatement>[0]) =>
  (await own.db.execute<{ 'QUERY PLAN': string }>(sql`explain ${listStatement(query)}`)).rows
    .map((row) => row['QUERY PLAN'])
    .join('\n')

const search = { limit: 50, before: null, isActive: null, isSuperuser: null }

describe(`the admin search at ${ACCOUNTS.toLocaleString('en-US')} accounts`, () => {
  it('finds the start of an email or a username through their pattern indexes, never a scan of users', async () => {
    const plan = await planOf({ ...search, prefix: 'student4242' })
    if (process.env.ADMIN_SEARCH_ACCOUNTS) {
      const analyzed = await own.db.execute<{ 'QUERY PLAN': string }>(
        sql`explain (analyze, buffers) ${listStatement({ ...search, prefix: 'student4242' })}`,
      )
      writeFileSync(
        'dist/admin-search-plan.txt',
        `${ACCOUNTS} accounts\n${analyzed.rows.map((row) => row['QUERY PLAN']).join('\n')}\n`,
      )
    }
    expect(plan).toMatch(/users_email_prefix_idx/)
    expect(plan).toMatch(/users_username_prefix_idx/)
    expect(plan).not.toMatch(/Seq Scan/)
  })

  it('answers the accounts whose username starts with the prefix, whatever its case, newest first', async () => {
    const admin = createAdminRepository(own.service)
    const { users, more } = await admin.list({ ...search, prefix: 'learner_9999' })
    // Learner_9999, _99990 to _99999, … up to the volume, less the multiples of 3 (no username): newest first.
    const expected: string[] = []
    for (let i = ACCOUNTS; i >= 1; i--)
      if (i % 3 !== 0 && String(i).startsWith('9999')) expected.push(`Learner_${i}`)
    expect(users.map((user) => user.username)).toEqual(expected.slice(0, search.limit))
    expect(more).toBe(expected.length > search.limit)
  })
})
