import { randomBytes, randomUUID } from 'node:crypto'
import type {
  LoginPolicy,
  LoginRepository,
  MailJob,
  MailJobRepository,
  PasswordResetPolicy,
  PasswordResetRepository,
  RegistrationPolicy,
  SessionPolicy,
  SessionRepository,
  UserRepository,
} from '#shared/domain/ports'
import type { RequestContext, UserRecord } from '#shared/domain/users'

/**
 * What the contract suites run against: every storage port over one storage (the ports interact: a registered user
 * logs in, a login's session is rotated, a reset voids the sessions), built with the given policies. The PostgreSQL
 * repositories on the test database, or the in-memory store the unit tests use.
 */
export interface ContractSubject {
  users: UserRepository
  logins: LoginRepository
  sessions: SessionRepository
  resets: PasswordResetRepository
  mailJobs: MailJobRepository
  /** Deactivates an account, as an operator would: no port does. */
  deactivate(userId: number): Promise<void>
  /** Makes a deactivated account active again, as an operator would. */
  reactivate(userId: number): Promise<void>
  /** Moves a retired refresh token's retirement `seconds` into the past, as if that much time had passed. */
  ageRetirement(refreshHash: string, seconds: number): Promise<void>
  /** A mail job's count of failed sends, as stored (no port reads it). */
  failedAttempts(jobId: string): Promise<number>
  /**
   * Takes the user's stored reset link as it is now, and gives a function that puts it back as it was: what a mail
   * job leaves when its statement issuing that link raced a password change (its snapshot predates the change, its
   * insert commits after the change deleted the links). Only the check at the link's use can refuse it then.
   */
  keepResetLink(userId: number): Promise<() => Promise<void>>
  /**
   * Runs `runs` so that each has begun before any can commit: PostgreSQL holds the account's row locked until every
   * one's statement (its text holding `statement`) is seen waiting on a lock, so none can go first by being fast; the
   * fake runs them as they come.
   */
  overlapping<T>(userId: number, statement: string, runs: readonly (() => Promise<T>)[]): Promise<T[]>
  /** The same storage through repositories built with other policies: a setting changed since. */
  withPolicies(overrides: PolicyOverrides): ContractSubject
}

export interface Policies {
  login: LoginPolicy
  registration: RegistrationPolicy
  session: SessionPolicy
  reset: PasswordResetPolicy
}

export type PolicyOverrides = { [K in keyof Policies]?: Partial<Policies[K]> }

/** Builds a subject over fresh or shared storage; the suites make every email and address unique, so either works. */
export type ContractSetup = (overrides?: PolicyOverrides) => ContractSubject

/** Generous limits, so a case meets only the one it narrows. */
export const CONTRACT_POLICIES: Policies = {
  login: { maxFailures: 5, windowSeconds: 900, ipMaxFailures: 50, ipWindowSeconds: 900 },
  registration: { maxPerWindow: 50, windowSeconds: 3600 },
  session: { maxAgeSeconds: 86_400, reuseIntervalSeconds: 0, maxPerUser: 100 },
  reset: { emailLimit: 5, ipLimit: 50, windowSeconds: 3600, tokenTtlSeconds: 1800 },
}

export const mergePolicies = (base: Policies, overrides: PolicyOverrides = {}): Policies => ({
  login: { ...base.login, ...overrides.login },
  registration: { ...base.registration, ...overrides.registration },
  session: { ...base.session, ...overrides.session },
  reset: { ...base.reset, ...overrides.reset },
})

/** An email no other case, file or run uses (the database is shared by every test file). */
export const uniqueEmail = (prefix = 'contract') => `${prefix}.${randomUUID()}@example.com`

export const uniqueUsername = () => `contract_${randomBytes(8).toString('hex')}`

/** A request from an address no other case uses (in 2001:db8::/32, documentation), so no limit counts another's. */
export function uniqueContext(userAgent = 'contract-suite'): RequestContext {
  const groups = Array.from({ length: 6 }, () => randomBytes(2).toString('hex'))
  return { sourceIp: `2001:db8:${groups.join(':')}`, userAgent }
}

/** A stand-in for a bcrypt hash: salted, so no two registrations share one. */
export const newHash = (label = 'hash') => `${label}-${randomUUID()}`

export const HOUR_MS = 3_600_000
export const inAnHour = () => new Date(Date.now() + HOUR_MS)
export const anHourAgo = () => new Date(Date.now() - HOUR_MS)

/** Registers a fresh account (from its own address unless given one). */
export function registered(
  subject: ContractSubject,
  fields: { email?: string; username?: string | null; hashedPassword?: string } = {},
  context = uniqueContext(),
): Promise<UserRecord> {
  return subject.users.register(
    {
      email: fields.email ?? uniqueEmail(),
      username: fields.username ?? null,
      hashedPassword: fields.hashedPassword ?? newHash(),
    },
    context,
  )
}

/** A session started for a user whose password was just checked, and the hash of its refresh token. */
export interface StartedSession {
  user: UserRecord
  sessionId: string
  refreshHash: string
}

/** Logs the account in as the service does: the check reserved, then the session started on the checked hash. */
export async function signedIn(
  subject: ContractSubject,
  user: UserRecord,
  options: { expiresAt?: Date; context?: RequestContext } = {},
): Promise<StartedSession> {
  const context = options.context ?? uniqueContext()
  const attempt = await subject.logins.begin({ id: randomUUID(), email: user.email }, context)
  if (!attempt.user) throw new Error(`no account for ${user.email}`)
  const session = {
    id: randomUUID(),
    user: attempt.user,
    reservation: attempt.reservation,
    refreshTokenHash: newHash('refresh'),
    refreshTokenExpiresAt: options.expiresAt ?? inAnHour(),
  }
  if (!(await subject.logins.startSession(session, context))) throw new Error('the session did not start')
  return { user: attempt.user, sessionId: session.id, refreshHash: session.refreshTokenHash }
}

/** The next refresh token of a rotation. */
export const nextToken = (expiresAt = inAnHour()) => ({ hash: newHash('refresh'), expiresAt })

/** The account as a login would read it now. */
export async function storedAccount(subject: ContractSubject, email: string): Promise<UserRecord | null> {
  return (await subject.logins.begin({ id: randomUUID(), email }, uniqueContext())).user
}

/** Requests a reset for the email; the request's id (its mail job's, when the email is an active account's). */
export async function requestedReset(
  subject: ContractSubject,
  email: string,
  context = uniqueContext(),
): Promise<string> {
  const id = randomUUID()
  const answer = await subject.resets.request({ id, email, emailKey: `key-${email}` }, context)
  if (answer.refusedForSeconds !== null) throw new Error(`the reset request was refused for ${email}`)
  return id
}

export async function loadedJob(subject: ContractSubject, jobId: string): Promise<MailJob> {
  const job = await subject.mailJobs.load(jobId)
  if (!job) throw new Error(`no mail job ${jobId}`)
  return job
}

/** The hash of a live reset link for the account, as the mail sender stores it. */
export async function resetLink(subject: ContractSubject, user: UserRecord): Promise<string> {
  const job = await loadedJob(subject, await requestedReset(subject, user.email))
  const tokenHash = newHash('reset')
  const outcome = await subject.mailJobs.issueLinkToken(
    job,
    tokenHash,
    CONTRACT_POLICIES.reset.tokenTtlSeconds,
  )
  if (outcome !== 'issued') throw new Error(`no link issued: ${outcome}`)
  return tokenHash
}

/** A completion of a reset with the link, with fresh ids. */
export const completion = (tokenHash: string, hash = newHash('reset-password')) => ({
  id: randomUUID(),
  tokenHash,
  hash,
  noticeId: randomUUID(),
})

/** A password change from the hash the account has now, with fresh ids. */
export const change = (user: UserRecord, sessionId: string | null, hash = newHash('changed')) => ({
  id: randomUUID(),
  user,
  sessionId,
  hash,
  noticeId: randomUUID(),
})
