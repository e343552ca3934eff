import type { LoginPolicy, LoginRepository, SessionPolicy } from '#shared/domain/ports'
import {
  audit,
  countHit,
  earliest,
  type LoginAttemptRow,
  type MemoryState,
  origin,
  plusSeconds,
  type SessionRow,
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
  const live = (row: SessionRow, now: Date) =>
    row.revokedAt === null && row.createdAt > plusSeconds(now, -sessionPolicy.maxAgeSeconds)

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

  /** Whether the email's row refuses a new attempt unchecked: its lock is on. */
  function locked(row: LoginAttemptRow | undefined, now: Date): boolean {
    if (!row) return false
    const expired =
      row.lockedUntil === null
        ? row.windowStartedAt <= plusSeconds(now, -policy.windowSeconds)
        : row.lockedUntil <= now
    return !expired && row.failures >= policy.maxFailures
  }

  /** Takes a place in the address's window, unless it is full: the window's start, or null. */
  function takePlace(key: string, now: Date): Date | null {
    const ip = state.rateLimits.get(key)
    if (
      ip &&
      ip.windowStartedAt > plusSeconds(now, -policy.ipWindowSeconds) &&
      ip.hits >= policy.ipMaxFailures
    )
      return null
    return countHit(state, key, policy.ipWindowSeconds, now).windowStartedAt
  }

  /** Gives a place back to the window it was taken in (none once the window has started over). */
  function givePlace(key: string, reservation: string): void {
    const ip = state.rateLimits.get(key)
    if (ip && ip.windowStartedAt.toISOString() === reservation) ip.hits = Math.max(0, ip.hits - 1)
  }

  return {
    async begin({ id, email }, context) {
      const now = state.clock.now()
      const account = state.users.find((user) => user.email === email)
      const user = account ? userRecord(account) : null
      const key = ipKey(context.sourceIp)
      const existing = state.loginAttempts.get(email)
      const seen = existing?.recentAttempts.includes(id) === true
      let placeTaken: Date | null = null
      if (!seen && !locked(existing, now)) {
        placeTaken = takePlace(key, now)
        if (placeTaken === null) {
          const ip = state.rateLimits.get(key)
          const retryAfter = ip
            ? secondsUntil(plusSeconds(ip.windowStartedAt, policy.ipWindowSeconds), now)
            : policy.ipWindowSeconds
          return { id, email, user, refusedForSeconds: Math.max(1, retryAfter), number: 0, reservation: null }
        }
      }
      const row = reserve(email, id, now)
      const refusedForSeconds =
        row.failures > policy.maxFailures
          ? Math.max(1, row.lockedUntil ? secondsUntil(row.lockedUntil, now) : 1)
          : null
      // A retry of a checked attempt: its place was taken by the first run.
      const held = seen && refusedForSeconds === null ? state.rateLimits.get(key)?.windowStartedAt : undefined
      const reservation = (placeTaken ?? held)?.toISOString() ?? null
      return { id, email, user, refusedForSeconds, number: row.failures, reservation }
    },

    async recordFailure(attempt, context) {
      const now = state.clock.now()
      const userId = attempt.user?.id ?? null
      // Keyed by the attempt: a retried statement records nothing.
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
    },

    async release(attempt, context) {
      if (attempt.reservation === null) return
      const row = state.loginAttempts.get(attempt.email)
      // The id leaves the email's recent attempts as the place goes back: a retry gives nothing back twice.
      if (!row?.recentAttempts.includes(attempt.id)) return
      row.recentAttempts = row.recentAttempts.filter((id) => id !== attempt.id)
      givePlace(ipKey(context.sourceIp), attempt.reservation)
    },

    async succeeded(attempt, context) {
      const row = state.loginAttempts.get(attempt.email)
      if (!row?.recentAttempts.includes(attempt.id)) return
      state.loginAttempts.delete(attempt.email)
      if (attempt.reservation !== null) givePlace(ipKey(context.sourceIp), attempt.reservation)
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
      // The user's oldest live sessions past the cap end, this one kept.
      const others = [...state.sessions.values()]
        .filter((row) => row.userId === account.id && row.id !== session.id && live(row, now))
        .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? -1 : 1))
      for (const ended of others.slice(sessionPolicy.maxPerUser - 1)) {
        ended.revokedAt = now
        ended.revokedReason = 'session_limit'
        audit(state, now, 'session_ended', context, {
          userId: ended.userId,
          email: null,
          key: `session_ended:${ended.id}`,
        })
      }
      state.loginAttempts.delete(user.email)
      if (session.reservation !== null) givePlace(ipKey(context.sourceIp), session.reservation)
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
