import * as v from 'valibot'

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
  /** How long a migration statement waits for a table lock before the deploy fails (never stalling the API). */
  MIGRATION_LOCK_TIMEOUT_MS: { default: 5000, min: 100, max: 600_000 },
  ACCESS_TOKEN_TTL_SECONDS: { default: 900, min: 60, max: 86_400 },
  /** How long a refresh token lives unused (each rotation issues a new one). */
  REFRESH_TOKEN_TTL_SECONDS: { default: 604_800, min: 300, max: 7_776_000 },
  /** A session ends this long after its login, however often it is refreshed. */
  SESSION_MAX_AGE_SECONDS: { default: 2_592_000, min: 1, max: 31_536_000 },
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
  /** How long the audit trail is kept; the cleanup deletes older events. */
  AUDIT_RETENTION_DAYS: { default: 400, min: 1, max: 3650 },
} as const satisfies Record<string, IntegerSetting>

/** The defaults of the text settings that have one. */
export const TEXT_DEFAULTS = {
  JWT_ISSUER: 'papa-auth',
  JWT_AUDIENCE: 'papa-api',
} as const

const integer = (name: keyof typeof INTEGER_SETTINGS) => {
  const { default: fallback, min, max } = INTEGER_SETTINGS[name]
  return v.optional(
    v.pipe(
      v.string(),
      v.regex(/^\d+$/, `${name} must be a whole number`),
      v.transform(Number),
      v.minValue(min, `${name} must be at least ${min}`),
      v.maxValue(max, `${name} must be at most ${max}`),
    ),
    String(fallback),
  )
}

const text = v.pipe(v.string(), v.trim(), v.nonEmpty())

const MIN_SECRET_BYTES = 32

/** Every setting a function may read, with its default. Secrets come either inline or as a Secrets Manager ARN. */
const EnvSchema = v.pipe(
  v.object({
    DATABASE_URL: v.optional(text),
    /** Locally, migrate's own connection (the schema's owner), when the API connects as another role. */
    DATABASE_MIGRATION_URL: v.optional(text),
    DATABASE_SECRET_ARN: v.optional(text),
    /** Local only: `host:port` of the WebSocket-to-TCP proxy that lets the Neon driver reach a plain Postgres. */
    DATABASE_WS_PROXY: v.optional(text),
    DATABASE_CONNECT_TIMEOUT_MS: integer('DATABASE_CONNECT_TIMEOUT_MS'),
    DATABASE_POOL_MAX: integer('DATABASE_POOL_MAX'),
    JWT_SECRET: v.optional(
      v.pipe(
        v.string(),
        v.check(
          (secret) => byteLength(secret) >= MIN_SECRET_BYTES,
          `JWT_SECRET must be at least ${MIN_SECRET_BYTES} bytes`,
        ),
      ),
    ),
    JWT_SECRET_ARN: v.optional(text),
    JWT_ISSUER: v.optional(text, TEXT_DEFAULTS.JWT_ISSUER),
    JWT_AUDIENCE: v.optional(text, TEXT_DEFAULTS.JWT_AUDIENCE),
    ACCESS_TOKEN_TTL_SECONDS: integer('ACCESS_TOKEN_TTL_SECONDS'),
    REFRESH_TOKEN_TTL_SECONDS: integer('REFRESH_TOKEN_TTL_SECONDS'),
    BCRYPT_COST: integer('BCRYPT_COST'),
    LOGIN_MAX_FAILURES: integer('LOGIN_MAX_FAILURES'),
    LOGIN_WINDOW_SECONDS: integer('LOGIN_WINDOW_SECONDS'),
    LOGIN_IP_MAX_FAILURES: integer('LOGIN_IP_MAX_FAILURES'),
    LOGIN_IP_WINDOW_SECONDS: integer('LOGIN_IP_WINDOW_SECONDS'),
    REGISTER_RATE_LIMIT: integer('REGISTER_RATE_LIMIT'),
    REGISTER_RATE_WINDOW_SECONDS: integer('REGISTER_RATE_WINDOW_SECONDS'),
    DATABASE_QUERY_TIMEOUT_MS: integer('DATABASE_QUERY_TIMEOUT_MS'),
    DATABASE_LOCK_TIMEOUT_MS: integer('DATABASE_LOCK_TIMEOUT_MS'),
    MIGRATION_LOCK_TIMEOUT_MS: integer('MIGRATION_LOCK_TIMEOUT_MS'),
    SESSION_MAX_AGE_SECONDS: integer('SESSION_MAX_AGE_SECONDS'),
    AUDIT_RETENTION_DAYS: integer('AUDIT_RETENTION_DAYS'),
    ADMIN_EMAIL: v.optional(text),
    ADMIN_PASSWORD: v.optional(v.string()),
    ADMIN_PASSWORD_SECRET_ARN: v.optional(text),
  }),
)

export type Config = v.InferOutput<typeof EnvSchema>

export class ConfigError extends Error {
  override readonly name = 'ConfigError'
  readonly problems: string[]
  constructor(problems: string[]) {
    super(`Invalid configuration: ${problems.join('; ')}`)
    this.problems = problems
  }
}

const byteLength = (value: string) => Buffer.byteLength(value, 'utf8')

/** What a function needs configured: each function asks only for its own secrets (least privilege). */
export type Need = 'database' | 'jwt' | 'admin'

const NEEDS: Record<Need, { keys: (keyof Config)[]; problem: string }> = {
  database: {
    keys: ['DATABASE_URL', 'DATABASE_SECRET_ARN'],
    problem: 'DATABASE_URL or DATABASE_SECRET_ARN is required',
  },
  jwt: { keys: ['JWT_SECRET', 'JWT_SECRET_ARN'], problem: 'JWT_SECRET or JWT_SECRET_ARN is required' },
  admin: {
    keys: ['ADMIN_PASSWORD', 'ADMIN_PASSWORD_SECRET_ARN'],
    problem: 'ADMIN_PASSWORD or ADMIN_PASSWORD_SECRET_ARN is required',
  },
}

/**
 * Validates the environment once, failing with every problem listed; the only reader of `process.env`.
 * `needs` names the settings this function cannot run without.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  needs: readonly Need[] = ['database', 'jwt'],
): Config {
  const result = v.safeParse(EnvSchema, env, { abortEarly: false, abortPipeEarly: true })
  const problems = result.success ? [] : result.issues.map((issue) => formatIssue(issue))
  for (const need of needs) {
    if (!NEEDS[need].keys.some((key) => env[key])) problems.push(NEEDS[need].problem)
  }
  if (needs.includes('admin') && !env.ADMIN_EMAIL) problems.push('ADMIN_EMAIL is required')
  if (problems.length > 0 || !result.success) throw new ConfigError(problems)
  return result.output
}

/** The settings alone, requiring no secret: for what only states or tunes them (the OpenAPI document, tooling). */
export const loadSettings = (): Config => loadConfig(process.env, [])

function formatIssue(issue: v.BaseIssue<unknown>): string {
  const key = issue.path?.map((item) => String(item.key)).join('.')
  if (key && issue.input === undefined) return `${key} is required`
  // Never echo the received value: it may be a secret.
  return key ? `${key}: ${issue.message.replace(/,? ?but received .*$/, '')}` : issue.message
}

/** Validates a signing secret fetched at run time (from Secrets Manager) with the same rule as `JWT_SECRET`. */
export function assertSigningSecret(secret: string): string {
  if (byteLength(secret) < MIN_SECRET_BYTES) {
    throw new ConfigError([`the JWT signing secret must be at least ${MIN_SECRET_BYTES} bytes`])
  }
  return secret
}
