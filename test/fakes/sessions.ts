import type { SessionPolicy, SessionRepository } from '#shared/domain/ports'
import type { RequestContext } from '#shared/domain/users'
import {
  audit,
  earliest,
  findUser,
  hasEvent,
  type MemoryState,
  plusSeconds,
  queueNotice,
  revokeSessionsOf,
  type SessionRow,
  storeNewPassword,
  userRecord,
  voidLinks,
} from './state.ts'

/** `db/repositories/sessions.ts` in memory. */
export function createMemorySessionRepository(state: MemoryState, policy: SessionPolicy) {
  /** Not revoked, and younger than the session's lifetime. */
  const live = (session: SessionRow, now: Date) =>
    session.revokedAt === null && session.createdAt > plusSeconds(now, -policy.maxAgeSeconds)

  const revokeSession = (session: SessionRow, now: Date, reason: string) => {
    session.revokedAt = now
    session.revokedReason = reason
  }

  /** Ends a session for its user (`end`, `endAll`), with its event, once. */
  const endSession = (session: SessionRow, now: Date, context: RequestContext) => {
    revokeSession(session, now, 'user')
    audit(state, now, 'session_ended', context, {
      userId: session.userId,
      email: null,
      key: `session_ended:${session.id}`,
    })
  }

  return {
    async rotate(hash, next, context) {
      const now = state.clock.now()
      // A successor this very rotation stored already (a retry after a lost answer): answered as then.
      const done = state.refreshTokens.get(next.hash)
      const doneSession = done && state.sessions.get(done.sessionId)
      if (doneSession)
        return {
          userId: doneSession.userId,
          sessionId: doneSession.id,
          startedAt: doneSession.createdAt,
          emailVerified: findUser(state, doneSession.userId)?.emailVerified === true,
        }
      const token = state.refreshTokens.get(hash)
      const withinInterval =
        token?.retiredAt != null &&
        policy.reuseIntervalSeconds > 0 &&
        token.retiredAt.getTime() > now.getTime() - policy.reuseIntervalSeconds * 1000
      if (!token || (token.retiredAt !== null && !withinInterval) || token.expiresAt <= now) return null
      const session = state.sessions.get(token.sessionId)
      if (!session || !live(session, now) || !findUser(state, session.userId)?.isActive) return null
      session.lastUsedAt = now
      token.retiredAt ??= now
      const sessionEnds = plusSeconds(session.createdAt, policy.maxAgeSeconds)
      state.refreshTokens.set(next.hash, {
        sessionId: session.id,
        createdAt: now,
        expiresAt: earliest(next.expiresAt, sessionEnds),
        retiredAt: null,
      })
      audit(state, now, 'refresh', context, { userId: session.userId, email: null })
      return {
        userId: session.userId,
        sessionId: session.id,
        startedAt: session.createdAt,
        emailVerified: findUser(state, session.userId)?.emailVerified === true,
      }
    },

    async revokeIfReplayed(hash, context) {
      const now = state.clock.now()
      const token = state.refreshTokens.get(hash)
      if (!token || token.retiredAt === null) return false
      const session = state.sessions.get(token.sessionId)
      if (session && session.revokedAt === null) {
        revokeSession(session, now, 'reuse')
        audit(state, now, 'refresh_reuse_detected', context, { userId: session.userId, email: null })
      }
      return true
    },

    async revoke(hash, context) {
      const now = state.clock.now()
      const token = state.refreshTokens.get(hash)
      const session = token && state.sessions.get(token.sessionId)
      if (!session) return
      if (session.revokedAt === null) revokeSession(session, now, 'logout')
      // Every logout of a known token is recorded, once per session.
      audit(state, now, 'logout', context, {
        userId: session.userId,
        email: null,
        key: `logout:${session.id}`,
      })
    },

    async findUser(userId, sessionId) {
      const now = state.clock.now()
      const user = findUser(state, userId)
      if (!user?.isActive) return null
      if (sessionId) {
        const session = state.sessions.get(sessionId)
        if (!session || session.userId !== userId || !live(session, now)) return null
      }
      return userRecord(user)
    },

    async list(userId) {
      const now = state.clock.now()
      return [...state.sessions.values()]
        .filter((session) => session.userId === userId && live(session, now))
        .sort(
          (a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
        )
        .slice(0, policy.maxPerUser)
        .map((session) => ({
          id: session.id,
          createdAt: session.createdAt,
          lastUsedAt: session.lastUsedAt,
          sourceIp: session.sourceIp,
          userAgent: session.userAgent,
        }))
    },

    async end(userId, sessionId, context) {
      const now = state.clock.now()
      const session = state.sessions.get(sessionId)
      if (!session || session.userId !== userId) return false
      if (session.revokedAt === null) endSession(session, now, context)
      return true
    },

    async endAll(userId, context) {
      const now = state.clock.now()
      for (const session of state.sessions.values())
        if (session.userId === userId && live(session, now)) endSession(session, now, context)
      const user = findUser(state, userId)
      if (user) voidLinks(state, user, now)
    },

    async changePassword(change, context) {
      const now = state.clock.now()
      const key = `password_changed:${change.id}`
      const done = hasEvent(state, key)
      const user = findUser(state, change.user.id)
      const kept = change.sessionId ? state.sessions.get(change.sessionId) : undefined
      // Compare-and-set on the credential version checked, while the account is active and the kept session live.
      const applies =
        user?.isActive === true &&
        user.credentialVersion === change.user.credentialVersion &&
        (!change.sessionId || (kept !== undefined && kept.userId === user.id && live(kept, now)))
      if (!user || !applies) return done
      storeNewPassword(state, user, change.hash, now)
      revokeSessionsOf(state, user.id, now, 'password_change', change.sessionId || null)
      state.loginAttempts.delete(user.email)
      queueNotice(state, change.noticeId, user.id, now)
      audit(state, now, 'password_changed', context, { userId: user.id, email: user.email, key })
      return true
    },
  } satisfies SessionRepository
}
