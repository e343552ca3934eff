/**
 * The service's settings, declared once, as data: what `config.ts` validates the environment against, what the
 * CDK app checks its context against and derives the functions' timeouts from. No dependency, so anything may import
 * it without weight.
 */

/** A whole-number setting: its default and its accepted range, declared once. */
interface IntegerSetting {
  readonly default: number
  readonly min: number
  readonly max: number
}

/**
 * Every numeric setting with its default and range. `infra/` checks its CDK context against the same ranges, and the
 * OpenAPI document states the configured values, so none of these numbers is written anywhere else.
 */
export const INTEGER_SETTINGS = {
  DATABASE_CONNECT_TIMEOUT_MS: { default: 3000, min: 100, max: 30_000 },
  DATABASE_POOL_MAX: { default: 10, min: 1, max: 100 },
  /** Set on the server too (the API role's `statement_timeout`), so an abandoned statement stops there as well. */
  DATABASE_QUERY_TIMEOUT_MS: { default: 5000, min: 100, max: 60_000 },
  /** How long a statement waits for a row lock before it gives up (the API role's `lock_timeout`). */
  DATABASE_LOCK_TIMEOUT_MS: { default: 2000, min: 100, max: 60_000 },
  /**
   * The cleanup role's `statement_timeout`: each of its statements is a bounded batch found through an index (tens of
   * milliseconds at a million users), so this only stops one that has gone wrong, without stopping the run.
   */
  CLEANUP_STATEMENT_TIMEOUT_MS: { default: 10_000, min: 1000, max: 60_000 },
  /** How long a migration statement waits for a table lock before the deploy fails (never stalling the API). */
  MIGRATION_LOCK_TIMEOUT_MS: { default: 5000, min: 100, max: 600_000 },
  ACCESS_TOKEN_TTL_SECONDS: { default: 900, min: 60, max: 86_400 },
  /**
   * How recent a superuser's login must be for an admin route (the access token's `auth_time`): a session kept alive
   * by refreshing cannot act as admin forever (RFC 9470's `max_age`).
   */
  ADMIN_MAX_AUTH_AGE_SECONDS: { default: 3600, min: 60, max: 86_400 },
  /** How long a refresh token lives unused (each rotation issues a new one). */
  REFRESH_TOKEN_TTL_SECONDS: { default: 604_800, min: 300, max: 7_776_000 },
  /**
   * How long after its rotation a retired refresh token of a live session still refreshes (two tabs at once, a retry
   * after a lost answer) instead of counting as reuse; 0 turns it off. Bounded as Okta bounds its grace period.
   */
  REFRESH_TOKEN_REUSE_INTERVAL_SECONDS: { default: 10, min: 0, max: 60 },
  /** A session ends this long after its login, however often it is refreshed. */
  SESSION_MAX_AGE_SECONDS: { default: 2_592_000, min: 1, max: 31_536_000 },
  /** Live sessions one user may hold: a login past it ends their oldest; the sessions list shows at most this many. */
  MAX_SESSIONS_PER_USER: { default: 100, min: 1, max: 1000 },
  /** bcrypt's cost; `shared/domain/passwords.ts` holds a dummy hash for each cost of this range. */
  BCRYPT_COST: { default: 12, min: 10, max: 14 },
  LOGIN_MAX_FAILURES: { default: 10, min: 1, max: 1000 },
  LOGIN_WINDOW_SECONDS: { default: 900, min: 1, max: 86_400 },
  /** Failed logins from one source IP across all emails (password spraying); generous, as campuses share NATs. */
  LOGIN_IP_MAX_FAILURES: { default: 300, min: 1, max: 1_000_000 },
  LOGIN_IP_WINDOW_SECONDS: { default: 900, min: 1, max: 86_400 },
  /** Registrations per source IP and window: a class signing up together behind one NAT stays under it. */
  REGISTER_RATE_LIMIT: { default: 300, min: 1, max: 1_000_000 },
  REGISTER_RATE_WINDOW_SECONDS: { default: 3600, min: 1, max: 86_400 },
  /** How long a password-reset link stays valid after its request. */
  PASSWORD_RESET_TTL_SECONDS: { default: 1800, min: 300, max: 86_400 },
  /** Reset requests per email (known or not, so the limit reveals nothing) and window. */
  PASSWORD_RESET_EMAIL_LIMIT: { default: 5, min: 1, max: 1000 },
  /** Reset requests per source IP and window, across all emails. */
  PASSWORD_RESET_IP_LIMIT: { default: 100, min: 1, max: 1_000_000 },
  PASSWORD_RESET_WINDOW_SECONDS: { default: 3600, min: 1, max: 86_400 },
  /** How long the audit trail is kept; the cleanup deletes older events. */
  AUDIT_RETENTION_DAYS: { default: 400, min: 1, max: 3650 },
} as const satisfies Record<string, IntegerSetting>

/**
 * How often the cleanup runs (CDK context `cleanupIntervalMinutes`; `npm start` and `npm run bench:scale` use the
 * default). Each run deletes what became stale since the last one, so the interval sets a run's size: every 15
 * minutes, a quarter of an hour's rows, a steady-state run well under a second at a million students
 * (docs/performance.md). A divisor of an hour, so runs fall at the same minutes every hour.
 */
export const CLEANUP_INTERVAL_MINUTES = { default: 15, allowed: [5, 10, 15, 20, 30, 60] } as const

/** The defaults of the text settings that have one. */
export const TEXT_DEFAULTS = {
  /** The `iss` of every access token; the discovery document needs it to be the issuer's URL (`npm start` sets it). */
  JWT_ISSUER: 'papa-auth',
  JWT_AUDIENCE: 'papa-api',
  /** The `client_id` claim of access tokens (RFC 9068 §2.2): the one first-party client. */
  JWT_CLIENT_ID: 'papa-app',
  /** The product's name in the mail the service sends ("Reset your … password"). */
  PRODUCT_NAME: 'Past Questions',
  /**
   * `optional`: an unverified address signs in as ever (front-ends of the old backend see no change). `required`:
   * registration mails a code at once, and the right password of an unverified account is answered 403.
   */
  EMAIL_VERIFICATION: 'optional',
} as const

/** The values `EMAIL_VERIFICATION` (CDK context `emailVerification`) accepts. */
export const EMAIL_VERIFICATION_MODES = ['optional', 'required'] as const
