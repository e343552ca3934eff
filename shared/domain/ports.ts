/**
 * The storage the domain needs, declared once. `db/repositories` implements each port (with `satisfies`), and the
 * unit tests fake them; no type here knows about SQL, drizzle or HTTP.
 *
 * Every write is idempotent on a key the service made (an attempt id, a session id, a token hash), so a statement
 * whose answer was lost can be sent again and still be applied once.
 */
import type { NewUser, RequestContext, UserRecord } from './users.ts'

/** The failed-login limits: per email (an exact bound on password checks) and per source IP (spraying). */
export interface LoginPolicy {
  maxFailures: number
  windowSeconds: number
  ipMaxFailures: number
  ipWindowSeconds: number
}

/** Registrations one source IP may attempt per window. */
export interface RegistrationPolicy {
  maxPerWindow: number
  windowSeconds: number
}

/** A session ends this long after its login, however often it is refreshed. */
export interface SessionPolicy {
  maxAgeSeconds: number
}

export interface UserRepository {
  /**
   * Counts the attempt against the source IP's registration limit, inserts the user unless the email or username is
   * taken, and audits it, in one statement. Throws `EmailTakenError`, `UsernameTakenError` or
   * `RegistrationLimitError`. A retry of a registration that was stored answers with the stored user.
   */
  register(user: NewUser, context: RequestContext): Promise<UserRecord>
  /** Inserts the superuser unless the email exists; the account the email names either way. One statement. */
  insertSuperuser(user: NewUser, context: RequestContext): Promise<{ user: UserRecord; created: boolean }>
}

/** A password check, reserved before the compare. */
export interface LoginAttempt {
  /** Made by the service; a retried statement with the same id counts once. */
  id: string
  email: string
  user: UserRecord | null
  /** Seconds until the email or the source IP may try again, when this attempt is refused unchecked. */
  refusedForSeconds: number | null
  /** Its place among the email's checks in the window (1 is the first); the one at the limit starts the lock. */
  number: number
}

/** What a successful login stores: a session and its first refresh token. */
export interface NewSession {
  /** Made by the service; a retried statement with the same id stores the session once. */
  id: string
  user: UserRecord
  refreshTokenHash: string
  refreshTokenExpiresAt: Date
  /** A new hash of the password, to store in the same statement, and whether it is still a carried-over one. */
  rehash?: { hash: string; carriedOver: boolean } | undefined
}

export interface LoginRepository {
  /**
   * Counts a password check for the email (and reads the account) in one statement, before the compare, so at most
   * `maxFailures` checks run per email and window whatever the concurrency; refused past either limit.
   */
  begin(attempt: { id: string; email: string }, context: RequestContext): Promise<LoginAttempt>
  /** The compare failed: audits it, and counts it against the source IP. */
  recordFailure(attempt: LoginAttempt, context: RequestContext): Promise<void>
  /**
   * Clears the email's count, stores the session and its first token, upgrades the hash, audits: one statement, and
   * only while the account is active and its stored hash is still the one the password was checked against (a reset
   * or change committed meanwhile wins: no session, no rehash over the new password). False when it was not; a retry
   * of a stored session answers true.
   */
  startSession(session: NewSession, context: RequestContext): Promise<boolean>
}

/** A live session, as its user sees it. */
export interface SessionRecord {
  id: string
  createdAt: Date
  lastUsedAt: Date
  sourceIp: string | null
  userAgent: string | null
}

/** What a password change stores: the new hash, replacing `previousHash` only if that is still the stored one. */
export interface PasswordChange {
  /** Made by the service; keys the audit event, so a retried statement records it once. */
  id: string
  user: UserRecord
  /** The session kept; every other session of the user is revoked (all of them when `null`). */
  sessionId: string | null
  previousHash: string
  hash: string
  /** The id of the "your password was changed" notice's mail job. */
  noticeId: string
}

export interface SessionRepository {
  /**
   * Retires the live token with `hash` of a live session (not revoked, younger than the session's lifetime, its
   * user active) and stores its successor; `null` when any of that fails. Concurrent uses of one token yield at most
   * one success, and a retry of a rotation that was stored answers as the rotation did.
   */
  rotate(
    hash: string,
    next: { hash: string; expiresAt: Date },
    context: RequestContext,
  ): Promise<{ userId: number; sessionId: string } | null>
  /** Revokes the session of a token that was already retired (a replay); true when it was one. */
  revokeIfReplayed(hash: string, context: RequestContext): Promise<boolean>
  /** Revokes the session `hash` belongs to, whatever state that token is in (logout). */
  revoke(hash: string, context: RequestContext): Promise<void>
  /** The user of an access token: active, and, when the token names a session, that session still live. */
  findUser(userId: number, sessionId: string | null): Promise<UserRecord | null>
  /** The user's live sessions, newest first. */
  list(userId: number): Promise<SessionRecord[]>
  /**
   * Revokes the user's session `sessionId` and audits it, in one statement; false when the user has no such session.
   * Ending a session already ended answers true and records nothing more.
   */
  end(userId: number, sessionId: string, context: RequestContext): Promise<boolean>
  /** Revokes every live session of the user, each with its event, in one statement. */
  endAll(userId: number, context: RequestContext): Promise<void>
  /**
   * Replaces the hash (clearing `password_carried_over`) while the stored hash is still `previousHash`, the kept
   * session is live and the user active; revokes the user's other sessions, clears the failed-login count, queues
   * the notice mail, audits: one statement. False when a condition failed (a concurrent change won); a retry of a stored change answers true.
   */
  changePassword(change: PasswordChange, context: RequestContext): Promise<boolean>
}

/** How long each kind of row is kept after it stops mattering. */
export interface RetentionPolicy {
  loginWindowSeconds: number
  ipWindowSeconds: number
  registerWindowSeconds: number
  resetWindowSeconds: number
  sessionMaxAgeSeconds: number
  auditRetentionDays: number
}

export type RetentionTable =
  | 'sessions'
  | 'refresh_tokens'
  | 'login_attempts'
  | 'rate_limits'
  | 'security_events'
  | 'password_reset_tokens'
  | 'mail_outbox'

export interface RetentionRepository {
  /**
   * Deletes up to `limit` rows of `table` that no rule reads any more (expired tokens, ended sessions, passed
   * windows, audit events past retention); how many it deleted. Called in a loop, so no statement runs long.
   */
  purge(table: RetentionTable, limit: number): Promise<number>
}

/** The reset requests one email, and one source IP, may make per window. */
export interface PasswordResetPolicy {
  emailLimit: number
  ipLimit: number
  windowSeconds: number
  /** How long a link stays valid after its request. */
  tokenTtlSeconds: number
}

/** A password-reset request, counted before anything is looked up. */
export interface ResetRequest {
  /** Made by the service: the mail job's id, and the key of the request's event (a retried statement counts once). */
  id: string
  email: string
  /** The email's SHA-256, the key of its limit (no address of an unknown account is kept in the counters). */
  emailKey: string
}

/** What a confirmed reset stores. */
export interface ResetCompletion {
  /** Made by the service; keys the audit event, so a statement retried after a lost answer is applied once. */
  id: string
  tokenHash: string
  /** The new password's hash. */
  hash: string
  /** The id of the notice's mail job. */
  noticeId: string
}

export interface PasswordResetRepository {
  /**
   * Counts the request against the email's and the source IP's limits, then, when both allow it and the email is an
   * active account's, records a reset mail job with `request.id`, and audits it: one statement, the same work for a
   * known and an unknown email. The seconds to wait when refused, else null.
   */
  request(request: ResetRequest, context: RequestContext): Promise<{ refusedForSeconds: number | null }>
  /** Whether the token's hash names a live link (not expired, its user active). */
  isLive(tokenHash: string): Promise<boolean>
  /**
   * Consumes the live link, stores the new hash, revokes every session, clears the failed-login count, queues the
   * notice and audits, in one statement; false when the link is not live (used, voided, expired, unknown).
   */
  complete(completion: ResetCompletion, context: RequestContext): Promise<boolean>
}

/** Hands a queued mail job to the mail sender, off the request's path (in AWS an asynchronous Lambda invocation). */
export interface MailQueue {
  notify(jobId: string): Promise<void>
}

export type MailKind = 'password_reset' | 'password_changed'

/** A mail to send, as its job row describes it. */
export interface MailJob {
  id: string
  kind: MailKind
  userId: number
  email: string
  userActive: boolean
  createdAt: Date
  /** Settled already (sent, or settled without a mail): a repeated delivery of the job does nothing. */
  settled: boolean
}

/** Why a job ends without a mail. */
export type MailSkip = 'superseded' | 'expired' | 'inactive'

export interface MailJobRepository {
  /** The job with its recipient; null when there is none (a request for an unknown email queues nothing). */
  load(jobId: string): Promise<MailJob | null>
  /**
   * Stores the hash of a reset job's token, replacing the user's older link (never a newer one's), valid until the
   * request's time plus the link's lifetime; or says why no link goes out: a newer request exists, or the request is
   * older than a link's lifetime (a mail delayed past it would carry a dead link).
   */
  issueResetToken(job: MailJob, tokenHash: string, ttlSeconds: number): Promise<'issued' | MailSkip>
  /** Marks the job settled (`sent`, or why not) and audits it; a second call changes nothing. */
  settle(job: MailJob, outcome: 'sent' | MailSkip): Promise<void>
  /**
   * Claims the job for this delivery for `seconds` (longer than a delivery can run): false while another delivery of
   * it holds an unexpired claim, or once it is settled.
   */
  claim(job: MailJob, seconds: number): Promise<boolean>
  /** Counts a failed attempt to send, releases the claim, and audits it. */
  recordFailure(job: MailJob): Promise<void>
}

/** A plain-text mail. */
export interface MailMessage {
  to: string
  subject: string
  text: string
}

/** The mail service (SMTP locally, Amazon SES in AWS). */
export interface MailTransport {
  send(message: MailMessage): Promise<void>
}
