import type { LoginPolicy, LoginRepository, SessionPolicy } from '#shared/domain/ports'
import {
  audit,
  countHit,
  earliest,
  type LoginAttemptRow,
  type MemoryState,
  origin,
  plusSeconds,
  secondsUntil,
  storeUpgradedHash,
  userRecord,
} from './state.ts'

/** How many attempt ids a row remembers, so that a retried reservation is not counted twice. */
const REMEMBERED_ATTEMPTS = 32

/** `db/repositories/logins.ts` in memory. */
export function createMemoryLoginRepository(
  state: MemoryState,
  policy: LoginPolicy,
  sessionPolicy: SessionPolicy,
) {
  const ipKey = (sourceIp: string) => `login-failures:${sourceIp}`

  /** Reserves the attempt `id` on the email's row: counted once, the lock started by the check at the limit. */
  function reserve(email: string, id: string, now: Date): LoginAttemptRow {
    const lockFrom = (count: number) =>
      count >= policy.maxFailures ? plusSeconds(now, policy.windowSeconds) : null
    const row = state.loginAttempts.get(email)
    if (!row) {
      const fresh = { failures: 1, windowStartedAt: now, lockedUntil: lockFrom(1), recentAttempts: [id] }
      state.loginAttempts.set(email, fresh)
      return fresh
    }
    if (row.recentAttempts.includes(id)) return row
    // A lock that has ended, or a window that has passed with no lock, starts the count over.
    const expired =
      row.lockedUntil === null
        ? row.windowStartedAt <= plusSeconds(now, -policy.windowSeconds)
        : row.lockedUntil <= now
    if (expired) {
      row.failures = 1
      row.windowStartedAt = now
      row.lockedUntil = lockFrom(1)
    } else {
      row.failures += 1
      row.lockedUntil ??= lockFrom(row.failures)
    }
    row.recentAttempts = [...row.recentAttempts, id].slice(-REMEMBERED_ATTEMPTS)
    return row
  }

  return {
    async begin({ id, email }, context) {
      const now = state.clock.now()
      const account = state.users.find((user) => user.email === email)
      const user = account ? userRecord(account) : null
      const ip = state.rateLimits.get(ipKey(context.sourceIp))
      if (
        ip &&
        ip.windowStartedAt > plusSeconds(now, -policy.ipWindowSeconds) &&
        ip.hits >= policy.ipMaxFailures
      ) {
        const retryAfter = secondsUntil(plusSeconds(ip.windowStartedAt, policy.ipWindowSeconds), now)
        return { id, email, user, refusedForSeconds: Math.max(1, retryAfter), number: 0 }
      }
      const row = reserve(email, id, now)
      const refusedForSeconds =
        row.failures > policy.maxFailures
          ? Math.max(1, row.lockedUntil ? secondsUntil(row.lockedUntil, now) : 1)
          : null
      return { id, email, user, refusedForSeconds, number: row.failures }
    },

    async recordFailure(attempt, context) {
      const now = state.clock.now()
      const userId = attempt.user?.id ?? null
      // Keyed by the attempt: a retried statement records nothing and counts nothing.
      if (
        !audit(state, now, 'login_failure', context, {
          userId,
          email: attempt.email,
          key: `failure:${attempt.id}`,
        })
      )
        return
      if (attempt.number === policy.maxFailures)
        audit(state, now, 'lockout', context, { userId, email: attempt.email })
      countHit(state, ipKey(context.sourceIp), policy.ipWindowSeconds, now)
    },

    async startSession(session, context) {
      const now = state.clock.now()
      const { user } = session
      // The retry of a stored session answers as the first did, whatever happened since.
      if (state.sessions.has(session.id)) return true
      const account = state.users.find(
        (row) => row.id === user.id && row.isActive && row.credentialVersion === user.credentialVersion,
      )
      // A reset, a change or a deactivation committed since the password was checked: nothing starts.
      if (!account) return false
      if (state.refreshTokens.has(session.refreshTokenHash))
        throw new Error('duplicate key value violates unique constraint "refresh_tokens_pkey"')
      state.sessions.set(session.id, {
        id: session.id,
        userId: account.id,
        createdAt: now,
        lastUsedAt: now,
        ...origin(context),
        revokedAt: null,
        revokedReason: null,
      })
      const sessionEnds = plusSeconds(now, sessionPolicy.maxAgeSeconds)
      state.refreshTokens.set(session.refreshTokenHash, {
        sessionId: session.id,
        createdAt: now,
        expiresAt: earliest(session.refreshTokenExpiresAt, sessionEnds),
        retiredAt: null,
      })
      state.loginAttempts.delete(user.email)
      audit(state, now, 'login_success', context, { userId: user.id, email: user.email })
      return true
    },

    async upgradeHash({ user, hash, carriedOver }) {
      const account = state.users.find(
        (row) =>
          row.id === user.id &&
          row.credentialVersion === user.credentialVersion &&
          row.hashedPassword === user.hashedPassword,
      )
      if (!account) return false
      storeUpgradedHash(account, hash, carriedOver, state.clock.now())
      return true
    },
  } satisfies LoginRepository
}
