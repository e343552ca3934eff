import { createHash } from 'node:crypto'
import type { MailKind, MailSkip } from '#shared/domain/ports'
import type { Clock } from '#shared/domain/tokens'
import type { RequestContext, UserRecord } from '#shared/domain/users'

/**
 * The in-memory tables the fake repositories share, one per table of `db/schema.ts` that a port reads or writes, with
 * the server's clock beside them. Every fake method reads `clock.now()` once and does all its work before it awaits
 * anything, so it is one statement: atomic, with one `now()`, as the SQL it stands for.
 */
export interface MemoryState {
  clock: Clock
  /** The accounts, in insertion order; tests may change a stored record (an account deactivated meanwhile). */
  users: UserRecord[]
  sessions: Map<string, SessionRow>
  /** By token hash. */
  refreshTokens: Map<string, RefreshTokenRow>
  /** By canonical email. */
  loginAttempts: Map<string, LoginAttemptRow>
  /** By key (`register:<ip>`, `login-failures:<ip>`, `password-reset-ip:<ip>`, `password-reset-email:<sha256>`). */
  rateLimits: Map<string, RateLimitRow>
  securityEvents: SecurityEventRow[]
  /** A user's one live link, by user id. */
  passwordResetTokens: Map<number, PasswordResetTokenRow>
  /** A user's one live account-deletion link, by user id (a table of its own, as in PostgreSQL). */
  accountDeletionTokens: Map<number, PasswordResetTokenRow>
  mailOutbox: Map<string, MailOutboxRow>
}

export interface SessionRow {
  id: string
  userId: number
  createdAt: Date
  lastUsedAt: Date
  sourceIp: string | null
  userAgent: string | null
  revokedAt: Date | null
  revokedReason: string | null
}

export interface RefreshTokenRow {
  sessionId: string
  createdAt: Date
  expiresAt: Date
  retiredAt: Date | null
}

export interface LoginAttemptRow {
  failures: number
  windowStartedAt: Date
  lockedUntil: Date | null
  recentAttempts: string[]
}

export interface RateLimitRow {
  hits: number
  windowStartedAt: Date
  /** The latest hits' ids, where a hit has one (registrations). */
  recentHits?: string[]
}

export interface SecurityEventRow {
  type: string
  userId: number | null
  email: string | null
  sourceIp: string | null
  userAgent: string | null
  createdAt: Date
  eventKey: string | null
}

export interface PasswordResetTokenRow {
  tokenHash: string
  jobId: string
  requestedAt: Date
  expiresAt: Date
}

export interface MailOutboxRow {
  id: string
  kind: MailKind
  /** Null for a notice to an erased account, whose address is `recipient`. */
  userId: number | null
  recipient?: string | null
  createdAt: Date
  attempts: number
  claimedUntil: Date | null
  claimedBy: string | null
  settledAt: Date | null
  outcome: 'sent' | MailSkip | null
}

/**
 * The system clock, never answering the same instant twice: PostgreSQL's `now()` tells two statements apart to the
 * microsecond, and rules such as "newest first" or "a window of 0 seconds has passed" depend on it.
 */
export function tickingClock(): Clock {
  let last = 0
  return {
    now: () => {
      last = Math.max(Date.now(), last + 1)
      return new Date(last)
    },
  }
}

export function createMemoryState(clock: Clock = tickingClock()): MemoryState {
  return {
    clock,
    users: [],
    sessions: new Map(),
    refreshTokens: new Map(),
    loginAttempts: new Map(),
    rateLimits: new Map(),
    securityEvents: [],
    passwordResetTokens: new Map(),
    accountDeletionTokens: new Map(),
    mailOutbox: new Map(),
  }
}

/** `date + seconds`, as `now() + make_interval(secs => …)`. */
export const plusSeconds = (date: Date, seconds: number) => new Date(date.getTime() + seconds * 1000)

/** The earlier of two times (`least(a, b)`). */
export const earliest = (a: Date, b: Date) => new Date(Math.min(a.getTime(), b.getTime()))

/** Whole seconds from `now` until `date`, rounded up (`ceil(extract(epoch from date - now()))`). */
export const secondsUntil = (date: Date, now: Date) => Math.ceil((date.getTime() - now.getTime()) / 1000)

/** A copy of a stored account: what a repository returns is the caller's, never the row itself. */
export const userRecord = (row: UserRecord): UserRecord => ({ ...row })

export const findUser = (state: MemoryState, userId: number) => state.users.find((user) => user.id === userId)

const USER_AGENT_MAX = 512

/** The request's address and agent as the tables store them (empty is null; the agent cut to its column). */
export const origin = (context: RequestContext) => ({
  sourceIp: context.sourceIp || null,
  userAgent: context.userAgent.slice(0, USER_AGENT_MAX) || null,
})

export const hasEvent = (state: MemoryState, key: string) =>
  state.securityEvents.some((event) => event.eventKey === key)

/**
 * Appends an audit event; with a `key`, only the first one (`on conflict (event_key) do nothing`). True when it was
 * recorded. An event with no user keeps only the email's digest, as `auditedEmail` (db/repositories/rows.ts) stores it.
 */
export function audit(
  state: MemoryState,
  now: Date,
  type: string,
  context: RequestContext,
  row: { userId: number | null; email: string | null; key?: string },
): boolean {
  if (row.key !== undefined && hasEvent(state, row.key)) return false
  state.securityEvents.push({
    type,
    userId: row.userId,
    email:
      row.userId === null && row.email !== null
        ? `sha256:${createHash('sha256').update(row.email, 'utf8').digest('hex')}`
        : row.email,
    ...origin(context),
    createdAt: now,
    eventKey: row.key ?? null,
  })
  return true
}

/**
 * Counts one hit on the fixed window `key` (a window that has passed starts over at this hit) and returns the row:
 * the `rate_limits` upsert every limit shares.
 */
export function countHit(state: MemoryState, key: string, windowSeconds: number, now: Date): RateLimitRow {
  const row = state.rateLimits.get(key)
  const next =
    !row || row.windowStartedAt <= plusSeconds(now, -windowSeconds)
      ? { hits: 1, windowStartedAt: now }
      : { hits: row.hits + 1, windowStartedAt: row.windowStartedAt }
  state.rateLimits.set(key, next)
  return next
}

/** Queues the "your password was changed" mail job `noticeId` for the user (a retried statement queues it once). */
export function queueNotice(state: MemoryState, noticeId: string, userId: number, now: Date): void {
  if (state.mailOutbox.has(noticeId)) return
  state.mailOutbox.set(noticeId, {
    id: noticeId,
    kind: 'password_changed',
    userId,
    createdAt: now,
    attempts: 0,
    claimedUntil: null,
    claimedBy: null,
    settledAt: null,
    outcome: null,
  })
}

/** Revokes the user's sessions that are not revoked yet, but `kept`, for `reason`. */
export function revokeSessionsOf(
  state: MemoryState,
  userId: number,
  now: Date,
  reason: string,
  kept: string | null,
): void {
  for (const session of state.sessions.values()) {
    if (session.userId === userId && session.revokedAt === null && session.id !== kept) {
      session.revokedAt = now
      session.revokedReason = reason
    }
  }
}

/** A new password's hash: the credential's version moves on, and the account's outstanding links are void. */
export function storeNewPassword(state: MemoryState, user: UserRecord, hash: string, now: Date): void {
  user.hashedPassword = hash
  user.passwordCarriedOver = false
  user.credentialVersion += 1
  user.updatedAt = now
  voidLinks(state, user, now)
}

/** Makes the account's outstanding reset links void: those stored are deleted, those being sent will not be issued. */
export function voidLinks(state: MemoryState, user: UserRecord, now: Date): void {
  user.linksRevokedAt = now
  state.passwordResetTokens.delete(user.id)
  state.accountDeletionTokens.delete(user.id)
}

/** The same password's stronger hash: the version stays. */
export function storeUpgradedHash(user: UserRecord, hash: string, carriedOver: boolean, now: Date): void {
  user.hashedPassword = hash
  user.passwordCarriedOver = carriedOver
  user.updatedAt = now
}
