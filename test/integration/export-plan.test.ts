/**
 * The account export at volume: 300,000 audit events of 3,000 accounts on a database of this file's own, migrated by
 * the committed migrations, and the plan of the statement the repository runs (`exportStatement`): a user's newest
 * events are a bounded range of `security_events_user_created_idx`, never a scan of the trail; and the erasure's strip
 * of the account's emails finds its events through the same index.
 */
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { runMigrations } from '#db/migrate'
import { exportStatement } from '#db/repositories/account-export'
import { migrationLimits } from '#shared/app/operations'
import { EXPORT_LIMITS, WITHHELD_EVENT_TYPES } from '#shared/domain/account-export'
import { loadSettings } from '#shared/platform/config'
import { testDatabase } from '#test/helpers/database'
import { dropDatabase, legacyDatabase } from '#test/helpers/legacy-database'

const ACCOUNTS = 3000
const EVENTS_PER_ACCOUNT = 100
const database = await legacyDatabase('export_plan', '')
await runMigrations({
  url: database.ownerUrl,
  wsProxy: inject('wsProxy'),
  limits: migrationLimits(loadSettings()),
})
const own = testDatabase(database.ownerUrl)

beforeAll(async () => {
  await own.db.execute(sql`insert into users (email, hashed_password)
    select 'student' || i || '@example.edu', 'x' from generate_series(1, ${ACCOUNTS}::int) as i`)
  // Refreshes, logins and failures of every account, interleaved in time as a day of use writes them.
  await own.db.execute(sql`insert into security_events (type, user_id, email, created_at)
    select case when n % 3 = 0 then 'login_success' else 'refresh' end, u,
      case when n % 3 = 0 then 'student' || u || '@example.edu' end,
      now() - make_interval(secs => n * ${ACCOUNTS}::int + u)
    from generate_series(1, ${ACCOUNTS}::int) as u, generate_series(1, ${EVENTS_PER_ACCOUNT}::int) as n`)
  await own.db.execute(sql`analyze users`)
  await own.db.execute(sql`analyze security_events`)
}, 600_000)

afterAll(async () => {
  await own.close()
  await dropDatabase(database)
})

const planOf = async (statement: ReturnType<typeof sql>) =>
  (await own.db.execute<{ 'QUERY PLAN': string }>(sql`explain ${statement}`)).rows
    .map((row) => row['QUERY PLAN'])
    .join('\n')

describe(`the account export at ${(ACCOUNTS * EVENTS_PER_ACCOUNT).toLocaleString('en-US')} events`, () => {
  it("reads a user's newest events through their index, never a scan of the audit trail", async () => {
    const plan = await planOf(
      exportStatement(1234, { ...EXPORT_LIMITS, withheldEventTypes: WITHHELD_EVENT_TYPES }),
    )
    expect(plan).toMatch(/security_events_user_created_idx/)
    expect(plan).not.toMatch(/Seq Scan on security_events/)
  })

  it("finds an erased account's events with an email through the same index", async () => {
    const plan = await planOf(
      sql`update security_events set email = null where user_id = ${1234} and email is not null`,
    )
    expect(plan).toMatch(/security_events_user_created_idx/)
    expect(plan).not.toMatch(/Seq Scan/)
  })
})
