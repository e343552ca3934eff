import type { PasswordResetPolicy, PasswordResetRepository } from '#shared/domain/ports'
import {
  audit,
  countHit,
  findUser,
  hasEvent,
  type MemoryState,
  plusSeconds,
  queueNotice,
  revokeSessionsOf,
  secondsUntil,
  storeNewPassword,
} from './state.ts'

/** `db/repositories/password-resets.ts` in memory. */
export function createMemoryPasswordResetRepository(state: MemoryState, policy: PasswordResetPolicy) {
  /** The stored link with this hash, and its user while that user is active and the link unexpired. */
  function liveLink(tokenHash: string, now: Date) {
    for (const [userId, link] of state.passwordResetTokens) {
      if (link.tokenHash !== tokenHash) continue
      const user = findUser(state, userId)
      const voided = user?.linksRevokedAt != null && link.requestedAt <= user.linksRevokedAt
      return link.expiresAt > now && user?.isActive && !voided ? user : undefined
    }
    return undefined
  }

  return {
    async request({ id, email, emailKey }, context) {
      const now = state.clock.now()
      const requestedKey = `password_reset_requested:${id}`
      const limitedKey = `password_reset_limited:${id}`
      // A retried statement (its answer lost) finds its event, counts nothing again, and is answered as before.
      if (hasEvent(state, requestedKey)) return { refusedForSeconds: null }
      if (hasEvent(state, limitedKey)) return { refusedForSeconds: 1 }
      // Counted first, for every email alike: the address, then the email only while the address is within its
      // limit. The request past either limit is refused; only the first one past it in its window is audited.
      const byIp = countHit(state, `password-reset-ip:${context.sourceIp}`, policy.windowSeconds, now)
      const over: [typeof byIp, number][] = byIp.hits > policy.ipLimit ? [[byIp, policy.ipLimit]] : []
      if (over.length === 0) {
        const byEmail = countHit(state, `password-reset-email:${emailKey}`, policy.windowSeconds, now)
        if (byEmail.hits > policy.emailLimit) over.push([byEmail, policy.emailLimit])
      }
      if (over.length > 0) {
        if (over.some(([row, limit]) => row.hits === limit + 1))
          audit(state, now, 'password_reset_limited', context, { userId: null, email, key: limitedKey })
        const waits = over.map(([row]) =>
          secondsUntil(plusSeconds(row.windowStartedAt, policy.windowSeconds), now),
        )
        return { refusedForSeconds: Math.max(1, ...waits) }
      }
      const account = state.users.find((user) => user.email === email && user.isActive)
      if (account && !state.mailOutbox.has(id)) {
        state.mailOutbox.set(id, {
          id,
          kind: 'password_reset',
          userId: account.id,
          createdAt: now,
          attempts: 0,
          claimedUntil: null,
          claimedBy: null,
          settledAt: null,
          outcome: null,
        })
      }
      audit(state, now, 'password_reset_requested', context, {
        userId: account?.id ?? null,
        email,
        key: requestedKey,
      })
      return { refusedForSeconds: null }
    },

    async isLive(tokenHash) {
      return liveLink(tokenHash, state.clock.now()) !== undefined
    },

    async complete({ id, tokenHash, hash, noticeId }, context) {
      const now = state.clock.now()
      const key = `password_reset_completed:${id}`
      const done = hasEvent(state, key)
      // The link is used up by the statement that uses it: of two confirmations with one token, one succeeds.
      const user = liveLink(tokenHash, now)
      if (!user) return done
      state.passwordResetTokens.delete(user.id)
      storeNewPassword(state, user, hash, now)
      revokeSessionsOf(state, user.id, now, 'password_reset', null)
      state.loginAttempts.delete(user.email)
      queueNotice(state, noticeId, user.id, now)
      audit(state, now, 'password_reset_completed', context, { userId: user.id, email: user.email, key })
      return true
    },
  } satisfies PasswordResetRepository
}
