/**
 * The storage contracts (test/contracts), held by the in-memory store the unit tests use: the same cases the
 * PostgreSQL repositories pass in test/integration/repository-contracts.test.ts, so a fake cannot drift from them.
 */
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
import { createMemoryStore, type MemoryState } from '#test/fakes/memory-store'

function memory(policies: Policies, state?: MemoryState): ContractSubject {
  const store = createMemoryStore({ ...policies, state })
  return {
    users: store.users,
    logins: store.logins,
    sessions: store.sessions,
    resets: store.resets,
    mailJobs: store.mailJobs,
    async deactivate(userId) {
      store.deactivate(userId)
    },
    async reactivate(userId) {
      const user = store.state.users.find((row) => row.id === userId)
      if (user) user.isActive = true
    },
    async ageRetirement(refreshHash, seconds) {
      const token = store.state.refreshTokens.get(refreshHash)
      if (token?.retiredAt) token.retiredAt = new Date(token.retiredAt.getTime() - seconds * 1000)
    },
    async failedAttempts(jobId) {
      return store.state.mailOutbox.get(jobId)?.attempts ?? 0
    },
    async keepResetLink(userId) {
      const kept = store.state.passwordResetTokens.get(userId)
      if (!kept) throw new Error(`user ${userId} has no reset link to keep`)
      const copy = { ...kept }
      return async () => {
        if (!store.state.passwordResetTokens.has(userId)) store.state.passwordResetTokens.set(userId, copy)
      }
    },
    overlapping: (_userId, _statement, runs) => Promise.all(runs.map((run) => run())),
    withPolicies: (overrides) => memory(mergePolicies(policies, overrides), store.state),
  }
}

const setup: ContractSetup = (overrides) => memory(mergePolicies(CONTRACT_POLICIES, overrides))

userRepositoryContract('in memory', setup)
loginRepositoryContract('in memory', setup)
sessionRepositoryContract('in memory', setup)
passwordResetRepositoryContract('in memory', setup)
mailJobRepositoryContract('in memory', setup)
