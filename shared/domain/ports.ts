/**
 * The storage the domain needs, implemented by `db/repositories` and faked by the unit tests. Every write is keyed
 * by an id or hash the service made, so a statement resent after its answer was lost is applied once.
 */

import type { Preferences, PreferencesBody } from './preferences.ts'
import type { SessionPrincipal, TokenPrincipal } from './principal.ts'
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

/** A session ends this long after its login, however often it is refreshed; a user holds at most `maxPerUser`. */
export interface SessionPolicy {
  maxAgeSeconds: number
  /** How long after its rotation a retired token of a live session still rotates (0: never). */
  reuseIntervalSeconds: number
  /** Live sessions per user: a login past it ends the oldest; the list shows at most this many. */
  maxPerUser: number
}

export interface UserRepository {
  /**
   * One statement, before the password is hashed: counts registration `id` against the source IP (a retry with the
   * same id counts once). Seconds until the address may try again when it is past its limit, else null. Committed
   * apart from the insert, so a registration the insert refuses (a taken email or username) stays counted.
   */
  reserveRegistration(id: string, context: RequestContext): Promise<{ refusedForSeconds: number | null }>
  /**
   * One statement: inserts unless the email or username is taken, audits. Throws `EmailTakenError` or
   * `UsernameTakenError`; a retry answers the stored user.
   */
  register(user: NewUser, context: RequestContext): Promise<UserRecord>
  /** One statement: inserts the superuser unless the email exists; answers that email's account either way. */
  insertSuperuser(user: NewUser, context: RequestContext): Promise<{ user: UserRecord; created: boolean }>
}

/** The costs of the stored password hashes, which every password check is made to pay alike (`passwords.ts`). */
export interface PasswordCostRepository {
  /**
   * The highest cost among the stored hashes that bcrypt compares in full; null when there is none. One index
   * lookup, whatever the number of accounts.
   */
  highestStoredCost(): Promise<number | null>
}

/** A password check, reserved before the compare. */
export interface LoginAttempt {
  /** Made by the service; a retried statement with the same id counts once. */
  id: string
  email: string
  user: UserRecord | null
  /** Set when the attempt is refused unchecked: seconds until the email or the source IP may try again. */
  refusedForSeconds: number | null
  /** Its place among the email's checks in the window (1 is the first); the one at the limit starts the lock. */
  number: number
  /**
   * The source IP's window this attempt holds a place in (its start, as the database wrote it), so that a check that
   * succeeds, or one the email's lock refused after all, can give it back; null when it holds none.
   */
  reservation: string | null
}

/** What a successful login stores: a session and its first refresh token. */
export interface NewSession {
  /** Made by the service; a retried statement with the same id stores the session once. */
  id: string
  user: UserRecord
  /** The checked attempt's place in its source IP's window (`LoginAttempt.reservation`): a success gives it back. */
  reservation: string | null
  refreshTokenHash: string
  refreshTokenExpiresAt: Date
}

/** A hash at the current cost of the password a login just checked, and whether it is still a carried-over one. */
export interface HashUpgrade {
  user: UserRecord
  hash: string
  carriedOver: boolean
}

export interface LoginRepository {
  /**
   * Counts the check against the email and its source IP and reads the account in one statement, before the compare,
   * so at most `maxFailures` checks run per email and window, and `ipMaxFailures` per address and window, under any
   * concurrency; refused past either limit (an attempt the email's lock refuses takes no place of the address's).
   */
  begin(attempt: { id: string; email: string }, context: RequestContext): Promise<LoginAttempt>
  /** The compare failed: audits it (its place in the source IP's count, taken by `begin`, stays taken). */
  recordFailure(attempt: LoginAttempt, context: RequestContext): Promise<void>
  /**
   * Gives the attempt's place in its source IP's window back (a check that succeeded, or that was refused unchecked
   * after taking one): once, however often it is sent; nothing once the window has started over.
   */
  release(attempt: LoginAttempt, context: RequestContext): Promise<void>
  /**
   * A check that succeeded without a session (the right password of an account whose address is unverified, or the
   * caller's own before an email change): the address's place back, and the email's count cleared as a login's
   * success clears it, while the attempt is still among its recent ones. Once, however often it is sent.
   */
  succeeded(attempt: LoginAttempt, context: RequestContext): Promise<void>
  /**
   * Clears the email's count, gives the attempt's place back to its source IP, stores the session and token, ends
   * the user's oldest live sessions past `maxPerUser`, audits: one statement, and a second one only when a
   * concurrent login of the same user committed meanwhile, so that the cap holds for both (best effort: the next
   * login ends what it could not). False when the account went inactive or its credential version moved since the
   * check (a reset or change wins; a rehash does not); a retry answers true.
   */
  startSession(session: NewSession, context: RequestContext): Promise<boolean>
  /**
   * Best effort, after the session started: stores the new hash while the credential version and the hash are
   * still the ones checked (another login's rehash or a change wins); one row, no other lock. False when it did not.
   */
  upgradeHash(upgrade: HashUpgrade): Promise<boolean>
}

export interface SessionRecord {
  id: string
  createdAt: Date
  lastUsedAt: Date
  sourceIp: string | null
  userAgent: string | null
}

/** What a password change stores: the new hash, if the credential is still the version `user` was checked at. */
export interface PasswordChange {
  /** Made by the service; keys the audit event, so a retried statement records it once. */
  id: string
  /** The account as the current password was checked against it (its `credentialVersion`). */
  user: UserRecord
  /** The session kept; every other session of the user is revoked (all of them when `null`). */
  sessionId: string | null
  hash: string
  /** The "your password was changed" mail's job id. */
  noticeId: string
}

export interface SessionRepository {
  /**
   * Retires the live token `hash` for its successor; null unless its session is live (not revoked, within its
   * lifetime) and its user active. A token retired less than `reuseIntervalSeconds` ago rotates again, to a successor
   * of its own in the same session (every concurrent use succeeds); with the interval 0, of concurrent uses one at
   * most succeeds. A retry answers as the rotation did.
   */
  rotate(
    hash: string,
    next: { hash: string; expiresAt: Date },
    context: RequestContext,
  ): Promise<{ userId: number; sessionId: string; startedAt: Date; emailVerified: boolean } | null>
  /** Revokes the session of a token that was already retired (a replay); true when it was one. */
  revokeIfReplayed(hash: string, context: RequestContext): Promise<boolean>
  /** Revokes the session `hash` belongs to, whatever state that token is in (logout). */
  revoke(hash: string, context: RequestContext): Promise<void>
  /** The user of an access token: active, and, when the token names a session, that session still live. */
  findUser(userId: number, sessionId: string | null): Promise<UserRecord | null>
  /** The user's live sessions, newest first: at most `maxPerUser` of them. */
  list(userId: number): Promise<SessionRecord[]>
  /** One statement: revokes and audits; false when the user has no such session, true (and no event) if ended. */
  end(userId: number, sessionId: string, context: RequestContext): Promise<boolean>
  /** One statement: revokes every live session of the user, each with its event. */
  endAll(userId: number, context: RequestContext): Promise<void>
  /**
   * One statement: new hash (not carried over), credential version bumped, other sessions revoked, failed logins
   * cleared, notice queued, audit. False unless the credential is still the version checked, the kept session live
   * and the user active; a retry answers true.
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
  | 'account_deletion_tokens'
  | 'email_codes'
  | 'mail_outbox'

/** A step of the cleanup: giving old sessions their expiry, or purging one table. */
export type RetentionStep = 'session_expiry' | RetentionTable

export interface RetentionRepository {
  /**
   * Deletes up to `limit` rows of `table` that no rule reads any more, found through an index in the order they went
   * stale; how many. The limit keeps each statement short: callers loop until fewer than `limit` come back.
   */
  purge(table: RetentionTable, limit: number): Promise<number>
  /**
   * Sets the expiry of up to `limit` sessions that have none (rows from before the column); how many. Zero once every
   * session has one: only then does the sessions purge reach every ended session.
   */
  fillSessionExpiry(limit: number): Promise<number>
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
  noticeId: string
}

export interface PasswordResetRepository {
  /**
   * One statement, the same work for a known and an unknown email: counts the IP's limit, then the email's while the
   * IP is within its own; queues mail job `request.id` if both allow it and the account is active; audits the request
   * (a refused one only if it is the first past its limit in the window). Seconds to wait if refused, else null.
   */
  request(request: ResetRequest, context: RequestContext): Promise<{ refusedForSeconds: number | null }>
  /** Whether the token's hash names a live link (not expired, its user active). */
  isLive(tokenHash: string): Promise<boolean>
  /**
   * One statement: consumes the link, stores the hash, revokes every session, clears failed logins, queues the
   * notice, audits. False when the link is not live (used, voided, expired, unknown).
   */
  complete(completion: ResetCompletion, context: RequestContext): Promise<boolean>
}

/** What a code is for: the account's address to verify, or a new address to move the account to. */
export type EmailCodePurpose = 'verify' | 'change'

/** A code request for the account's own address (verification) or a new one (change), counted before any lookup. */
export interface EmailCodeRequest {
  /** Made by the service: the mail job's id, and the key of the request's event. */
  id: string
  /** The address the code goes to. */
  email: string
  /** Its SHA-256, the key of its limit. */
  emailKey: string
}

export interface EmailCodeRepository {
  /**
   * One statement, the same work for any email, as a reset request: counted per source IP and per email; mail job
   * `id` queued only for an active, unverified account of that address. Seconds to wait if refused, else null.
   */
  requestVerification(
    request: EmailCodeRequest,
    context: RequestContext,
  ): Promise<{ refusedForSeconds: number | null }>
  /**
   * One statement: the account `userId`'s code to move to `request.email`, counted as a verification request; no
   * job when the new address is already an account's. Seconds to wait if refused, else null.
   */
  requestChange(
    userId: number,
    request: EmailCodeRequest,
    context: RequestContext,
  ): Promise<{ refusedForSeconds: number | null }>
  /**
   * One statement: checks `code` against the live verification code of the active account `email`; a match uses it
   * up and marks the address verified (the user as it now is); a miss counts a try, and the fifth deletes the code.
   * Null for a miss or no live code.
   */
  confirmVerification(email: string, code: string, context: RequestContext): Promise<UserRecord | null>
  /**
   * One statement: checks `code` against the user's live change code; a match moves the account to the new address,
   * verified, ends every other session and queues the old address's notice (`noticeId`). 'taken' when the new address
   * became another account's meanwhile (the code stays used up); null for a miss or no live code.
   */
  confirmChange(
    change: { userId: number; sessionId: string | null; code: string; noticeId: string },
    context: RequestContext,
  ): Promise<UserRecord | 'taken' | null>
}

/** Hands a queued mail job to the mail sender, off the request's path (in AWS an asynchronous Lambda invocation). */
export interface MailQueue {
  notify(jobId: string): Promise<void>
}

export type MailKind =
  | 'password_reset'
  | 'password_changed'
  | 'account_deletion'
  | 'account_deleted'
  | 'email_verification'
  | 'email_change'
  | 'email_changed'

/** A mail to send, as its job row describes it. */
export interface MailJob {
  id: string
  kind: MailKind
  /** Null for a notice to an account that no longer exists (`account_deleted`). */
  userId: number | null
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
   * Stores the token's hash of a mailed link (a `password_reset` or an `account_deletion` job's, each kind in its own
   * table) over the user's older link of that kind (never a newer one's), live `ttlSeconds` from the request; else why
   * not: a newer request exists, or the request outlived a link (its mail would carry a dead one).
   */
  issueLinkToken(job: MailJob, tokenHash: string, ttlSeconds: number): Promise<'issued' | MailSkip>
  /**
   * Stores a code's hash for the job's user and purpose over an older code (never a newer one's), live `ttlSeconds`
   * from the request; else why not, as `issueLinkToken`. A verification code for an address verified meanwhile is
   * superseded.
   */
  issueEmailCode(
    job: MailJob,
    purpose: EmailCodePurpose,
    codeHash: string,
    ttlSeconds: number,
  ): Promise<'issued' | MailSkip>
  /** Marks the job settled (`sent`, or why not) and audits it; a second call changes nothing. */
  settle(job: MailJob, outcome: 'sent' | MailSkip): Promise<void>
  /**
   * Claims the job for `delivery` (an id the sender makes for each delivery) for `seconds`, longer than a delivery can
   * run: false while another delivery holds an unexpired claim, or once it is settled; true again for the same
   * delivery (a retry after a lost answer).
   */
  claim(job: MailJob, seconds: number, delivery: string): Promise<boolean>
  /** Counts a failed attempt of `delivery`, releases its claim, and audits it: once, however often it is sent. */
  recordFailure(job: MailJob, delivery: string): Promise<void>
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

/** Who the admin routes list: a page after a cursor, narrowed by a prefix of email or username and the two flags. */
export interface AdminUserQuery {
  limit: number
  /** The id the previous page ended at (newest first: this page holds smaller ids); null for the first page. */
  before: number | null
  /** Lower-case; matches the start of the email or of the username. */
  prefix: string | null
  isActive: boolean | null
  isSuperuser: boolean | null
}

/** What an admin may change on an account. */
export interface AdminUserChanges {
  isActive?: boolean
  isSuperuser?: boolean
}

/** Why an admin action did not apply. */
export type AdminRefusal = 'not_found' | 'last_superuser'

/**
 * The accounts as operators act on them. Every write is one statement with its audit event (`actorId`, the target,
 * what changed); none leaves the service without an active superuser (`last_superuser`), however many run at once.
 */
export interface AdminRepository {
  list(query: AdminUserQuery): Promise<{ users: UserRecord[]; more: boolean }>
  find(userId: number): Promise<UserRecord | null>
  /**
   * Applies the changes. A deactivation ends every session of the account in the same statement (and, through the
   * users table's trigger, its credential and its links); a reactivation restores none of it.
   */
  update(
    actorId: number,
    userId: number,
    changes: AdminUserChanges,
    context: RequestContext,
  ): Promise<UserRecord | AdminRefusal>
  /** Ends every live session of the account; false when there is no such account. */
  endSessions(actorId: number, userId: number, context: RequestContext): Promise<boolean>
  /**
   * Queues a reset mail (job `jobId`) for an active account, as the public request does, without its limits; the
   * mail sender makes the link. `inactive` for a deactivated account.
   */
  requestReset(
    actorId: number,
    userId: number,
    jobId: string,
    context: RequestContext,
  ): Promise<'queued' | 'inactive' | 'not_found'>
}

/**
 * The one erasure of an account, for every way to leave (the user's deletion, the mailed link, an operator's
 * `DELETE /admin/users/{id}`): one statement each, all through the database's `erase_account`.
 */
export interface ErasureRepository {
  /**
   * Deletes the account's row, so its email, username and hash are gone and the email is free for a new account with a
   * new id; its sessions, refresh tokens, reset and deletion links, codes and pending mail jobs go with it (cascades),
   * its failed-login count too. Its audit events keep the id and lose any email. A notice (job `noticeId`) is queued
   * to the address it had, taken before the erasure. Refused (`last_superuser`) for the last active superuser. With
   * `checked` (a user deleting their own account), only while the password is still the one checked
   * (`credentialVersion`) and the request's session (if its token named one) is live, read under the account's lock:
   * else `stale`. A retry of the same erasure (same
   * `noticeId`) answers `erased` again.
   */
  erase(
    request: {
      userId: number
      actorId: number | null
      noticeId: string
      /** Whether to queue the notice (mail is configured): else no address of the account is kept anywhere. */
      notify: boolean
      checked?: { sessionId: string | null; credentialVersion: number }
    },
    context: RequestContext,
  ): Promise<'erased' | 'not_found' | 'last_superuser' | 'stale'>
  /**
   * The erasure a mailed deletion link confirms: the link (by its token's hash) checked under the account's lock (live,
   * unexpired, not voided since its request, the account active), then `erase`. `invalid` for any dead link.
   */
  eraseByLink(
    request: { tokenHash: string; noticeId: string; notify: boolean },
    context: RequestContext,
  ): Promise<'erased' | 'invalid' | 'last_superuser'>
  /**
   * A request for a deletion link, as a reset request (`PasswordResetRepository.request`), counted apart: the same
   * work for a known and an unknown email, mail job `request.id` queued only for an active account.
   */
  requestLink(request: ResetRequest, context: RequestContext): Promise<{ refusedForSeconds: number | null }>
}

/** A session as an account's export reads it: every stored one of the user, live or ended. */
export interface ExportedSessionRecord {
  id: string
  createdAt: Date
  lastUsedAt: Date
  expiresAt: Date | null
  revokedAt: Date | null
  revokedReason: string | null
  sourceIp: string | null
  userAgent: string | null
}

/** An audit event of the user's own (`user_id`), as an account's export reads it. */
export interface ExportedEventRecord {
  type: string
  createdAt: Date
  /** Null for an action of another user (an administrator's): their address and agent are theirs. */
  sourceIp: string | null
  userAgent: string | null
  email: string | null
  /** The event records an administrator's action (its `actor_id`, never read). */
  byAdministrator: boolean
  /** What an administrator's action changed on the account (its flags, a count, the reset mail's job id); else null. */
  details: unknown
}

/** What an export reads: the newest rows of each kind, at most so many, and the event types it leaves out. */
export interface AccountExportQuery {
  sessions: number
  securityEvents: number
  withheldEventTypes: readonly string[]
}

/** An account's data as its owner may read it; read-only. */
export interface AccountExportRepository {
  /**
   * One statement, one snapshot: the user's newest sessions and own audit events (`user_id` the user's, none of the
   * withheld types), newest first, at most as many as asked, and whether older ones exist.
   */
  read(
    userId: number,
    query: AccountExportQuery,
  ): Promise<{
    sessions: ExportedSessionRecord[]
    securityEvents: ExportedEventRecord[]
    more: { sessions: boolean; securityEvents: boolean }
  }>
}

/** Who user-scoped work runs as: the principal the HTTP layer authenticated (a session's, or the gateway's claims'). */
export type ScopedPrincipalPort = SessionPrincipal | TokenPrincipal

/**
 * A student's preferences, in a user-owned table behind row-level security: each call runs as the principal's user
 * (`db/user-scope.ts`), and the row is the one the database's policies let that user see.
 */
export interface UserPreferencesRepository {
  /** The caller's preferences, or null when never saved. */
  read(principal: ScopedPrincipalPort): Promise<Preferences | null>
  /** Saves them whole (an upsert of the caller's row) and answers them as stored. */
  write(principal: ScopedPrincipalPort, preferences: PreferencesBody): Promise<Preferences>
}
