import type { MailJobRepository } from '#shared/domain/ports'
import { audit, findUser, type MemoryState, plusSeconds } from './state.ts'

/** Jobs run by no request: their events name no source address or user agent. */
const NO_REQUEST = { sourceIp: '', userAgent: '' }

/** `db/repositories/mail-jobs.ts` in memory. */
export function createMemoryMailJobRepository(state: MemoryState) {
  return {
    async load(jobId) {
      const row = state.mailOutbox.get(jobId)
      const user = row?.userId == null ? undefined : findUser(state, row.userId)
      const email = row?.recipient ?? user?.email
      if (!row || email === undefined) return null
      return {
        id: row.id,
        kind: row.kind,
        userId: row.userId,
        email,
        userActive: user?.isActive ?? true,
        createdAt: row.createdAt,
        settled: row.settledAt !== null,
      }
    },

    async issueLinkToken(job, tokenHash, ttlSeconds) {
      const now = state.clock.now()
      // Read from the job's own row, never from the caller's copy of it.
      const found = state.mailOutbox.get(job.id)
      // Only a link job (a reset's, a deletion's) of an account issues a link, into its kind's own table.
      if (!found || found.userId === null) return 'superseded'
      const links =
        found.kind === 'account_deletion' ? state.accountDeletionTokens : state.passwordResetTokens
      const row = { ...found, userId: found.userId }
      const expiresAt = plusSeconds(row.createdAt, ttlSeconds)
      const newer = [...state.mailOutbox.values()].some(
        (other) => other.userId === row.userId && other.kind === row.kind && other.createdAt > row.createdAt,
      )
      const voided = findUser(state, row.userId)?.linksRevokedAt
      if (newer || (voided != null && voided >= row.createdAt)) return 'superseded'
      if (expiresAt <= now) return 'expired'
      // An older request's link never replaces a newer one's, whatever the order their mails are sent in.
      const current = links.get(row.userId)
      if (current && current.requestedAt > row.createdAt) return 'superseded'
      for (const [userId, link] of links)
        if (userId !== row.userId && link.tokenHash === tokenHash)
          throw new Error(
            'duplicate key value violates unique constraint "password_reset_tokens_token_hash_key"',
          )
      links.set(row.userId, {
        tokenHash,
        jobId: row.id,
        requestedAt: row.createdAt,
        expiresAt,
      })
      return 'issued'
    },

    async settle(job, outcome) {
      const now = state.clock.now()
      const row = state.mailOutbox.get(job.id)
      if (!row || row.settledAt !== null) return
      row.settledAt = now
      row.outcome = outcome
      if (outcome === 'sent') row.attempts += 1
      audit(state, now, `${job.kind}_mail_${outcome}`, NO_REQUEST, {
        userId: row.userId,
        email: null,
        key: `mail_settled:${row.id}`,
      })
    },

    async claim(job, seconds, delivery) {
      const now = state.clock.now()
      const row = state.mailOutbox.get(job.id)
      const heldByAnother = row?.claimedUntil != null && row.claimedUntil > now && row.claimedBy !== delivery
      if (!row || row.settledAt !== null || heldByAnother) return false
      row.claimedUntil = plusSeconds(now, seconds)
      row.claimedBy = delivery
      return true
    },

    async issueEmailCode() {
      // Codes are held to their promises against PostgreSQL only (test/e2e/email-verification.test.ts).
      throw new Error('email codes are not kept in memory')
    },

    async recordFailure(job, delivery) {
      const now = state.clock.now()
      const row = state.mailOutbox.get(job.id)
      if (!row || row.settledAt !== null || row.claimedBy !== delivery) return
      row.attempts += 1
      row.claimedUntil = null
      row.claimedBy = null
      audit(state, now, `${job.kind}_mail_failed`, NO_REQUEST, {
        userId: row.userId,
        email: null,
        key: `mail_failed:${delivery}`,
      })
    },
  } satisfies MailJobRepository
}
