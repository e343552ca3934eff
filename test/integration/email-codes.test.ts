/**
 * The code checks under concurrency, against PostgreSQL through the Neon driver as the API's role: what no HTTP test
 * can force (the local stack may serialize a function's invocations). A confirmation locks the code's row before it
 * compares, so concurrent guesses are checked one after another: never more than five wrong ones, and of concurrent
 * right ones exactly one.
 */
import { sql } from 'drizzle-orm'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { createDatabase } from '#db/client'
import { createEmailCodeRepository } from '#db/repositories/email-codes'
import { hashEmailCode } from '#shared/domain/email-code-service'
import { inLockOrder, testDatabase } from '#test/helpers/database'
import { uniqueEmail } from '#test/helpers/events'

const api = testDatabase(inject('databaseUrl'))
const admin = testDatabase()
/** The API's role with a connection for each of sixteen guesses queued at once. */
const wide = createDatabase({
  url: inject('databaseUrl'),
  wsProxy: inject('wsProxy'),
  connectTimeoutMs: 3000,
  poolMax: 16,
})
afterAll(() => Promise.all([api.close(), admin.close(), wide.close()]))

const codes = createEmailCodeRepository(api.service, { emailLimit: 100, ipLimit: 1000, windowSeconds: 3600 })
const context = { sourceIp: '203.0.113.9', userAgent: 'email-codes-test' }
const CODE = '424242'

/** A new account with a live verification code `CODE`, stored as the mail sender stores one. */
async function accountWithCode(): Promise<{ id: number; email: string }> {
  const email = uniqueEmail('codes')
  const { rows } = await admin.db.execute<{ id: number }>(sql`
    insert into users (email, hashed_password) values (${email}, 'x') returning id`)
  const id = Number(rows[0]?.id)
  await admin.db.execute(sql`
    insert into email_codes (user_id, purpose, code_hash, job_id, requested_at, expires_at)
    values (${id}, 'verify', ${hashEmailCode(id, CODE)}, gen_random_uuid(), now(), now() + interval '15 minutes')`)
  return { id, email }
}

describe('email code confirmations, concurrent', () => {
  it('checks at most five wrong guesses of one code however many arrive at once; the code is then gone', async () => {
    const { id, email } = await accountWithCode()
    const guesses = Array.from({ length: 16 }, (_, i) => String(100000 + i))
    const answers = await Promise.all(
      guesses.map((guess) => codes.confirmVerification(email, guess, context)),
    )
    expect(answers.every((answer) => answer === null)).toBe(true)
    const { rows } = await admin.db.execute(sql`
      select 1 from security_events where user_id = ${id} and type = 'email_code_failed'`)
    expect(rows).toHaveLength(5)
    expect((await admin.db.execute(sql`select 1 from email_codes where user_id = ${id}`)).rows).toEqual([])
    expect(await codes.confirmVerification(email, CODE, context)).toBeNull()
  })

  it('checks exactly five of sixteen wrong guesses queued on the code at once, each begun before any commits', async () => {
    const { id, email } = await accountWithCode()
    const queued = createEmailCodeRepository(wide.db, { emailLimit: 100, ipLimit: 1000, windowSeconds: 3600 })
    // Held on the code's row until all sixteen statements wait on it: a guess that read the code without locking it
    // would count from the tries it saw, and all sixteen would be checked.
    const answers = await inLockOrder(
      { db: admin.service, pool: admin.pool },
      { text: 'select 1 from email_codes where user_id = $1 for update', values: [id] },
      Array.from({ length: 16 }, (_, i) => ({
        run: () => queued.confirmVerification(email, String(100000 + i), context),
        statement: 'c.new_email, c.tries',
      })),
    )
    expect(answers.every((answer) => answer === null)).toBe(true)
    const { rows } = await admin.db.execute(sql`
      select 1 from security_events where user_id = ${id} and type = 'email_code_failed'`)
    expect(rows).toHaveLength(5)
    expect((await admin.db.execute(sql`select 1 from email_codes where user_id = ${id}`)).rows).toEqual([])
  })

  it('lets one of many concurrent right confirmations through', async () => {
    const { email } = await accountWithCode()
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => codes.confirmVerification(email, CODE, context)),
    )
    expect(answers.filter((answer) => answer !== null)).toHaveLength(1)
    expect(answers.find((answer) => answer !== null)?.emailVerified).toBe(true)
  })
})
