/**
 * Domain errors: each has a stable `code`, a `name` derived from its class, and an optional `cause` that is never
 * shown to a client or written to a log (it may carry SQL or parameters). Services throw these; the error table in
 * `shared/http/errors.ts`, keyed by `code`, turns them into HTTP responses.
 */
export type DomainErrorCode =
  | 'EMAIL_TAKEN'
  | 'USERNAME_TAKEN'
  | 'INVALID_CREDENTIALS'
  | 'NOT_AUTHENTICATED'
  | 'INVALID_TOKEN'
  | 'INSUFFICIENT_PRIVILEGES'
  | 'STALE_AUTHENTICATION'
  | 'USER_NOT_FOUND'
  | 'LAST_SUPERUSER'
  | 'USER_INACTIVE'
  | 'TOO_MANY_ATTEMPTS'
  | 'REGISTRATION_LIMIT'
  | 'DATABASE_UNAVAILABLE'
  | 'SIGNING_KEYS_UNAVAILABLE'
  | 'VALIDATION_FAILED'
  | 'INVALID_REQUEST'
  | 'UNSUPPORTED_GRANT_TYPE'
  | 'CONFLICTING_ADMIN'
  | 'INCORRECT_PASSWORD'
  | 'SESSION_NOT_FOUND'
  | 'PASSWORD_RESET_LIMIT'
  | 'INVALID_RESET_TOKEN'
  | 'MAIL_NOT_CONFIGURED'
  | 'MAIL_QUEUE_UNAVAILABLE'
  | 'EMAIL_CODE_LIMIT'
  | 'INVALID_EMAIL_CODE'
  | 'EMAIL_NOT_VERIFIED'
  | 'ACCOUNT_DELETION_LIMIT'
  | 'INVALID_DELETION_TOKEN'

export abstract class DomainError extends Error {
  abstract readonly code: DomainErrorCode
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
  }
}

export class EmailTakenError extends DomainError {
  readonly code = 'EMAIL_TAKEN'
  constructor(options?: { cause?: unknown }) {
    super('User with this email already exists', options)
  }
}

export class UsernameTakenError extends DomainError {
  readonly code = 'USERNAME_TAKEN'
  constructor(options?: { cause?: unknown }) {
    super('User with this username already exists', options)
  }
}

/** Unknown email, wrong password or inactive user: deliberately indistinguishable. */
export class InvalidCredentialsError extends DomainError {
  readonly code = 'INVALID_CREDENTIALS'
  constructor() {
    super('Incorrect email or password')
  }
}

/** No credentials were presented at all. */
export class NotAuthenticatedError extends DomainError {
  readonly code = 'NOT_AUTHENTICATED'
  constructor() {
    super('Not authenticated')
  }
}

/** A token that is malformed, expired, revoked, of the wrong kind, or whose user is gone or inactive. */
export class InvalidTokenError extends DomainError {
  readonly code = 'INVALID_TOKEN'
  constructor(options?: { cause?: unknown }) {
    super('Could not validate credentials', options)
  }
}

/** An authenticated caller without the right to the route (a non-superuser on a superuser route). */
export class InsufficientPrivilegesError extends DomainError {
  readonly code = 'INSUFFICIENT_PRIVILEGES'
  constructor() {
    super("The user doesn't have enough privileges")
  }
}

/**
 * A superuser's token from a login older than `ADMIN_MAX_AUTH_AGE_SECONDS` on an admin route (RFC 9470): the client
 * logs in again and retries with the new token. `maxAgeSeconds` is the age the route accepts.
 */
export class StaleAuthenticationError extends DomainError {
  readonly code = 'STALE_AUTHENTICATION'
  readonly maxAgeSeconds: number
  constructor(maxAgeSeconds: number) {
    super('A more recent login is required')
    this.maxAgeSeconds = maxAgeSeconds
  }
}

/** A limit was reached: the client may try again after `retryAfterSeconds` (answered as 429 with Retry-After). */
export abstract class RateLimitError extends DomainError {
  readonly retryAfterSeconds: number
  constructor(message: string, retryAfterSeconds: number) {
    super(message)
    this.retryAfterSeconds = retryAfterSeconds
  }
}

/** `LOGIN_MAX_FAILURES` consecutive failed logins for one email within `LOGIN_WINDOW_SECONDS`. */
export class TooManyAttemptsError extends RateLimitError {
  readonly code = 'TOO_MANY_ATTEMPTS'
  constructor(retryAfterSeconds: number) {
    super('Too many failed login attempts', retryAfterSeconds)
  }
}

/** More than `REGISTER_RATE_LIMIT` registrations from one source IP within `REGISTER_RATE_WINDOW_SECONDS`. */
export class RegistrationLimitError extends RateLimitError {
  readonly code = 'REGISTRATION_LIMIT'
  constructor(retryAfterSeconds: number) {
    super('Too many registrations from this address', retryAfterSeconds)
  }
}

export class DatabaseUnavailableError extends DomainError {
  readonly code = 'DATABASE_UNAVAILABLE'
  constructor(options?: { cause?: unknown }) {
    super('Service temporarily unavailable', options)
  }
}

/**
 * The access tokens' key set is not there yet (its secret still holds the placeholder a deploy created, before the
 * first key set is written), or the container's copy is too old to use and could not be read again. Answered like an
 * unreachable database (503, retried), never by signing with a default or a stale key.
 */
export class SigningKeysUnavailableError extends DomainError {
  readonly code = 'SIGNING_KEYS_UNAVAILABLE'
  constructor() {
    super('Service temporarily unavailable')
  }
}

export interface ValidationIssue {
  loc: (string | number)[]
  msg: string
  type: string
}

export class ValidationError extends DomainError {
  readonly code = 'VALIDATION_FAILED'
  readonly issues: ValidationIssue[]
  constructor(issues: ValidationIssue[]) {
    super('Invalid input')
    this.issues = issues
  }
}

/** An OAuth 2.0 token-endpoint request that is malformed (RFC 6749 §5.2 `invalid_request`). */
export class InvalidRequestError extends DomainError {
  readonly code = 'INVALID_REQUEST'
  constructor(message: string) {
    super(message)
  }
}

export class UnsupportedGrantTypeError extends DomainError {
  readonly code = 'UNSUPPORTED_GRANT_TYPE'
  constructor() {
    super('The grant type is not supported')
  }
}

/** Seeding: the admin's email belongs to an account that is not a superuser (registered by someone else first). */
export class ConflictingAdminError extends DomainError {
  readonly code = 'CONFLICTING_ADMIN'
  constructor() {
    super(
      'ADMIN_EMAIL belongs to an account that is not a superuser: it was registered by someone else. Choose another ADMIN_EMAIL, or deactivate that account and promote it by hand once its owner is known.',
    )
  }
}

/** The current password given to change it is not the account's (counted as a failed login). */
export class IncorrectPasswordError extends DomainError {
  readonly code = 'INCORRECT_PASSWORD'
  constructor() {
    super('Incorrect password')
  }
}

/** No session of the user's own has that id: unknown, another user's, or not an id at all (a plain 404). */
/** An admin route's `{id}` names no account. */
export class UserNotFoundError extends DomainError {
  readonly code = 'USER_NOT_FOUND'
  constructor() {
    super('User not found')
  }
}

/** An admin change or deletion that would leave the service without an active superuser. */
export class LastSuperuserError extends DomainError {
  readonly code = 'LAST_SUPERUSER'
  constructor() {
    super('The service must keep at least one active superuser')
  }
}

/** An admin action that needs an active account (a reset mail) on a deactivated one. */
export class UserInactiveError extends DomainError {
  readonly code = 'USER_INACTIVE'
  constructor() {
    super('The user is inactive')
  }
}

export class SessionNotFoundError extends DomainError {
  readonly code = 'SESSION_NOT_FOUND'
  constructor() {
    super('Not Found')
  }
}

/** Past `PASSWORD_RESET_EMAIL_LIMIT` requests for one email, or `PASSWORD_RESET_IP_LIMIT` from one source IP. */
export class PasswordResetLimitError extends RateLimitError {
  readonly code = 'PASSWORD_RESET_LIMIT'
  constructor(retryAfterSeconds: number) {
    super('Too many password reset requests', retryAfterSeconds)
  }
}

/** A reset token that is used, expired, voided by a newer request, or unknown: one answer for all of them. */
export class InvalidResetTokenError extends DomainError {
  readonly code = 'INVALID_RESET_TOKEN'
  constructor() {
    super('Invalid or expired password reset token')
  }
}

/** Past the password reset's per-email or per-IP limits in deletion-link requests (counted apart from resets). */
export class AccountDeletionLimitError extends RateLimitError {
  readonly code = 'ACCOUNT_DELETION_LIMIT'
  constructor(retryAfterSeconds: number) {
    super('Too many account deletion requests', retryAfterSeconds)
  }
}

/** A deletion link that is used, expired, voided (a newer request, a password change) or unknown: one answer. */
export class InvalidDeletionTokenError extends DomainError {
  readonly code = 'INVALID_DELETION_TOKEN'
  constructor() {
    super('Invalid or expired account deletion token')
  }
}

/** Past the per-email or per-IP limit of code requests (the password reset's limits, counted apart). */
export class EmailCodeLimitError extends RateLimitError {
  readonly code = 'EMAIL_CODE_LIMIT'
  constructor(retryAfterSeconds: number) {
    super('Too many code requests', retryAfterSeconds)
  }
}

/** A code that is wrong, expired, used, replaced by a newer one or out of tries, or none pending: one answer. */
export class InvalidEmailCodeError extends DomainError {
  readonly code = 'INVALID_EMAIL_CODE'
  constructor() {
    super('Invalid or expired code')
  }
}

/** `EMAIL_VERIFICATION=required`: the right password of an account whose address is not verified yet. */
export class EmailNotVerifiedError extends DomainError {
  readonly code = 'EMAIL_NOT_VERIFIED'
  constructor() {
    super('Email not verified')
  }
}

/**
 * The deployment sends no mail (no reset page URL or no mail sender configured): a reset request is refused openly
 * (503) rather than answered 202 with a mail that will never come.
 */
export class MailNotConfiguredError extends DomainError {
  readonly code = 'MAIL_NOT_CONFIGURED'
  /** `feature`: what the refused request would have mailed (`Account deletion` needs `ACCOUNT_DELETION_URL` too). */
  constructor(feature: 'Password reset' | 'Account deletion' = 'Password reset') {
    super(`${feature} by email is not configured on this server`)
  }
}

/** The mail sender could not be handed the job (Lambda's API did not take the invocation): a 503, retried. */
export class MailQueueUnavailableError extends DomainError {
  readonly code = 'MAIL_QUEUE_UNAVAILABLE'
  constructor(options?: { cause?: unknown }) {
    super('Service temporarily unavailable', options)
  }
}
