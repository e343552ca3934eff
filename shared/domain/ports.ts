/**
 * The storage the domain needs, declared once. `db/repositories` implements each port (with `satisfies`), and the
 * unit tests fake them; no type here knows about SQL, drizzle or HTTP.
 */
import type { NewUser, RequestContext, UserRecord } from './users.ts'

/** The failed-login lock: `maxFailures` consecutive failures within `windowSeconds` lock an email that long. */
export interface LoginPolicy {
  maxFailures: number
  windowSeconds: number
}

/** Registrations one source IP may attempt per window. */
export interface RegistrationPolicy {
  maxPerWindow: number
  windowSeconds: number
}

export interface UserRepository {
  findById(id: number): Promise<UserRecord | null>
  /**
   * Counts the attempt against the source IP's registration limit, inserts the user unless the email or username is
   * taken, and audits it, in one statement. Throws `EmailTakenError`, `UsernameTakenError` or
   * `RegistrationLimitError`.
   */
  register(user: NewUser, context: RequestContext): Promise<UserRecord>
  /** Inserts unless the email exists, auditing the creation; `null` when it existed. One statement. */
  insertUnlessEmailExists(user: NewUser, context: RequestContext): Promise<UserRecord | null>
}

/** An account and its email's lock, read together before a password is checked. */
export interface LoginState {
  user: UserRecord | null
  /** Seconds until the email's lock ends; null when it is not locked. */
  lockedForSeconds: number | null
}

/** What a successful login stores: the first refresh token of a new family. */
export interface NewSession {
  user: UserRecord
  refreshTokenHash: string
  familyId: string
  expiresAt: Date
  /** A stronger hash of the password, to store in the same statement. */
  rehashedPassword?: string | undefined
}

export interface LoginRepository {
  /** The account and the email's lock, in one statement; for unknown emails too. */
  find(email: string): Promise<LoginState>
  /** Counts a failure (known or unknown email) and audits it; the lock's length when this failure locked it. */
  recordFailure(
    email: string,
    userId: number | null,
    context: RequestContext,
  ): Promise<{ lockedForSeconds: number | null }>
  /** Stores the first refresh token of a new family, clears the failures, upgrades the hash, audits: one statement. */
  recordSuccess(session: NewSession, context: RequestContext): Promise<void>
}

export interface RefreshTokenRepository {
  /**
   * Retires the live, unexpired token with `hash` (of an active user) and stores its successor in the same family;
   * the token's user id, or `null` when it was not live. Concurrent uses of one token yield at most one success.
   */
  rotate(
    hash: string,
    next: { hash: string; expiresAt: Date },
    context: RequestContext,
  ): Promise<{ userId: number } | null>
  /** Revokes the whole family of a token that was already retired (a replay); true when it was one. */
  revokeFamilyIfRetired(hash: string, context: RequestContext): Promise<boolean>
  /** Revokes every live token of the family `hash` belongs to, whatever state that token is in. */
  revokeFamily(hash: string, context: RequestContext): Promise<void>
}
