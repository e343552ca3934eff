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
import { inLockOrder, testDatabase } from '#test/helpers/database'

const api = testDatabase(inject('databaseUrl'))
const admin = testDatabase()
afterAll(() => Promise.all([api.close(), admin.close()]))

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
    overlapping: (userId, statement, runs) =>
      inLockOrder(
        { db: admin.service, pool: admin.pool },
        { text: 'select 1 from users where id = $1 for update', values: [userId] },
        runs.map((run) => ({ run, statement })),
      ),
    withPolicies: (overrides) => postgres(mergePolicies(policies, overrides)),
  }
}

const setup: ContractSetup = (overrides) => postgres(mergePolicies(CONTRACT_POLICIES, overrides))

userRepositoryContract('PostgreSQL', setup)
loginRepositoryContract('PostgreSQL', setup)
sessionRepositoryContract('PostgreSQL', setup)
passwordResetRepositoryContract('PostgreSQL', setup)
mailJobRepositoryContract('PostgreSQL', setup)
