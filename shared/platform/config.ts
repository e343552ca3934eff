import * as v from 'valibot'

import { INTEGER_SETTINGS, TEXT_DEFAULTS } from './settings.ts'

export { INTEGER_SETTINGS, TEXT_DEFAULTS }

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
