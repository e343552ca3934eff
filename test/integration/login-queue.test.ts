/**
 * Guesses at one account arriving faster than their statements can take the email's row: one that cannot take its
 * place within the API role's `lock_timeout` is refused unchecked as past the limit (a 429 with Retry-After), never a
 * 503, and counts nothing. Held here by a transaction that locks the row, as a queue of attempts does under load.
 */
import { randomUUID } from 'node:crypto'
import { sql } from 'drizzle-orm'
import { afterAll, expect, inject, it } from 'vitest'
import { createLoginRepository } from '#db/repositories/logins'
import { testDatabase } from '#test/helpers/database'
import { uniqueEmail } from '#test/helpers/events'

const api = testDatabase(inject('databaseUrl'))
const admin = testDatabase()
afterAll(() => Promise.all([api.close(), admin.close()]))

const logins = createLoginRepository(
  api.service,
  { maxFailures: 10, windowSeconds: 900, ipMaxFailures: 300, ipWindowSeconds: 900 },
  { maxAgeSeconds: 86_400, reuseIntervalSeconds: 10, maxPerUser: 100 },
)
const context = { sourceIp: '198.51.100.77', userAgent: 'login-queue-test' }
const failuresOf = async (email: string) =>
  (
    await admin.db.execute<{ failures: number }>(
      sql`select failures from login_attempts where email = ${email}`,
    )
  ).rows[0]?.failures

it('refuses an attempt that cannot take its place in time as too many, counting nothing', async () => {
  const email = uniqueEmail('queued')
  expect((await logins.begin({ id: randomUUID(), email }, context)).refusedForSeconds).toBeNull()
  expect(await failuresOf(email)).toBe(1)

  await admin.db.transaction(async (tx) => {
    await tx.execute(sql`select 1 from login_attempts where email = ${email} for update`)
    const queued = await logins.begin({ id: randomUUID(), email }, context)
    expect(queued).toMatchObject({ user: null, refusedForSeconds: 1, reservation: null })
  })

  expect(await failuresOf(email)).toBe(1)
  // Once the row is free again, the next attempt takes its place as ever.
  expect((await logins.begin({ id: randomUUID(), email }, context)).number).toBe(2)
}, 30_000)
