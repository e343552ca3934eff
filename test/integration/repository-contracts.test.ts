/**
 * The storage contracts (test/contracts), held by the PostgreSQL repositories: the same cases the in-memory fakes
 * pass in test/unit/fake-contracts.test.ts. The repositories connect as the API's role, as the functions do; the
 * superuser only arranges what no port does (deactivating an account).
 */
import { sql } from 'drizzle-orm'
import { afterAll, inject } from 'vitest'
import { createLoginRepository } from '#db/repositories/logins'
import { createMailJobRepository } from '#db/repositories/mail-jobs'
import { createPasswordResetRepository } from '#db/repositories/password-resets'
import { createSessionRepository } from '#db/repositories/sessions'
import { createUserRepository } from '#db/repositories/users'
import { loginRepositoryContract } from '#test/contracts/login-repository'
import { mailJobRepositoryContract } from '#test/contracts/mail-job-repository'
import { passwordResetRepositoryContract } from '#test/contracts/password-reset-repository'
import { sessionRepositoryContract } from '#test/contracts/session-repository'
import {
  CONTRACT_POLICIES,
  type ContractSetup,
  type ContractSubject,
  mergePolicies,
  type Policies,
} from '#test/contracts/support'
import { userRepositoryContract } from '#test/contracts/user-repository'
import { testDatabase } from '#test/helpers/database'

const api = testDatabase(inject('databaseUrl'))
const admin = testDatabase()
afterAll(() => Promise.all([api.close(), admin.close()]))

/** Until `count` of the API role's statements wait on a lock (a row lock held by a test, or by one another). */
async function waitUntilWaiting(count: number) {
  for (let tries = 0; tries < 200; tries++) {
    const { rows } = await admin.db.execute<{ waiting: number }>(sql`
      select count(*)::int as waiting from pg_stat_activity
      where usename = 'papa_auth_api' and wait_event_type = 'Lock'`)
    if ((rows[0]?.waiting ?? 0) >= count) return
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  throw new Error(`${count} statements never waited on a lock together`)
}

function postgres(policies: Policies): ContractSubject {
  const db = api.service
  return {
    users: createUserRepository(db, policies.registration),
    logins: createLoginRepository(db, policies.login, policies.session),
    sessions: createSessionRepository(db, policies.session),
    resets: createPasswordResetRepository(db, policies.reset),
    mailJobs: createMailJobRepository(db),
    async deactivate(userId) {
      await admin.db.execute(sql`update users set is_active = false where id = ${userId}`)
    },
    async reactivate(userId) {
      await admin.db.execute(sql`update users set is_active = true where id = ${userId}`)
    },
    async ageRetirement(refreshHash, seconds) {
      await admin.db.execute(
        sql`update refresh_tokens set retired_at = retired_at - make_interval(secs => ${seconds})
            where token_hash = ${refreshHash}`,
      )
    },
    async failedAttempts(jobId) {
      const { rows } = await admin.db.execute<{ attempts: number }>(
        sql`select attempts from mail_outbox where id = ${jobId}::uuid`,
      )
      return rows[0]?.attempts ?? 0
    },
    async keepResetLink(userId) {
      const { rows } = await admin.db.execute<Record<string, unknown>>(
        sql`select * from password_reset_tokens where user_id = ${userId}`,
      )
      const [kept] = rows
      if (!kept) throw new Error(`user ${userId} has no reset link to keep`)
      return async () => {
        await admin.db.execute(sql`
          insert into password_reset_tokens
          select * from json_populate_record(null::password_reset_tokens, ${JSON.stringify(kept)}::json)
          on conflict (user_id) do nothing`)
      }
    },
    async overlapping(userId, runs) {
      let started: Promise<unknown>[] = []
      await admin.db.transaction(async (tx) => {
        await tx.execute(sql`select 1 from users where id = ${userId} for update`)
        started = runs.map((run) => run())
        await waitUntilWaiting(runs.length)
      })
      return (await Promise.all(started)) as Awaited<ReturnType<(typeof runs)[number]>>[]
    },
    withPolicies: (overrides) => postgres(mergePolicies(policies, overrides)),
  }
}

const setup: ContractSetup = (overrides) => postgres(mergePolicies(CONTRACT_POLICIES, overrides))

userRepositoryContract('PostgreSQL', setup)
loginRepositoryContract('PostgreSQL', setup)
sessionRepositoryContract('PostgreSQL', setup)
passwordResetRepositoryContract('PostgreSQL', setup)
mailJobRepositoryContract('PostgreSQL', setup)
