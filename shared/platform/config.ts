import * as v from 'valibot'

import { EMAIL_VERIFICATION_MODES, INTEGER_SETTINGS, TEXT_DEFAULTS } from './settings.ts'

export { INTEGER_SETTINGS, TEXT_DEFAULTS }

const integer = (name: keyof typeof INTEGER_SETTINGS) => {
  const { default: fallback, min, max } = INTEGER_SETTINGS[name]
  return v.optional(
    v.pipe(
      v.string(),
      v.regex(/^-?\d+$/, `${name} must be a whole number`),
      v.transform(Number),
      v.minValue(min, `${name} must be at least ${min}`),
      v.maxValue(max, `${name} must be at most ${max}`),
    ),
    String(fallback),
  )
}

const text = v.pipe(v.string(), v.trim(), v.nonEmpty())

/**
 * Where a reset link points: the front-end's page, `{token}` standing for the token, or, without it, the page the
 * token is added to as its `token` query parameter (never the request's Host).
 */
const linkUrl = (name: string) =>
  v.pipe(
    text,
    v.check(
      (value) => /^https?:\/\/[^/?#\s]+/i.test(value) && URL.canParse(value.replace('{token}', 'x')),
      `${name} must be an absolute http(s) URL`,
    ),
    v.check((value) => value.split('{token}').length <= 2, `${name} may contain {token} once at most`),
  )

/** Every setting a function may read, with its default. Secrets come either inline or as a Secrets Manager ARN. */
const EnvSchema = v.pipe(
  v.object({
    DATABASE_URL: v.optional(text),
    /** Locally, migrate's own connection (the schema's owner), when the API connects as another role. */
    DATABASE_MIGRATION_URL: v.optional(text),
    DATABASE_SECRET_ARN: v.optional(text),
    /** The cleanup's own connection (its role, with timeouts of its own); else the database secret's `cleanupUrl`. */
    DATABASE_CLEANUP_URL: v.optional(text),
    /** Local only: `host:port` of the WebSocket-to-TCP proxy that lets the Neon driver reach a plain Postgres. */
    DATABASE_WS_PROXY: v.optional(text),
    DATABASE_CONNECT_TIMEOUT_MS: integer('DATABASE_CONNECT_TIMEOUT_MS'),
    DATABASE_POOL_MAX: integer('DATABASE_POOL_MAX'),
    /** Inline signing key set (local, tests): JSON as `shared/domain/signing-keys.ts` describes it. */
    JWT_SIGNING_KEYS: v.optional(text),
    /** The signing key set's secret: given only to the functions that sign (login, token, refresh). */
    JWT_SIGNING_KEYS_SECRET_ARN: v.optional(text),
    /** Inline published keys, `{"keys": [...]}`; derived from the signing keys when absent. */
    JWT_PUBLIC_KEYS: v.optional(text),
    /** The published keys' secret: given to every function that verifies a token. */
    JWT_PUBLIC_KEYS_SECRET_ARN: v.optional(text),
    JWT_ISSUER: v.optional(text, TEXT_DEFAULTS.JWT_ISSUER),
    JWT_AUDIENCE: v.optional(text, TEXT_DEFAULTS.JWT_AUDIENCE),
    JWT_CLIENT_ID: v.optional(text, TEXT_DEFAULTS.JWT_CLIENT_ID),
    ACCESS_TOKEN_TTL_SECONDS: integer('ACCESS_TOKEN_TTL_SECONDS'),
    REFRESH_TOKEN_TTL_SECONDS: integer('REFRESH_TOKEN_TTL_SECONDS'),
    ADMIN_MAX_AUTH_AGE_SECONDS: integer('ADMIN_MAX_AUTH_AGE_SECONDS'),
    REFRESH_TOKEN_REUSE_INTERVAL_SECONDS: integer('REFRESH_TOKEN_REUSE_INTERVAL_SECONDS'),
    BCRYPT_COST: integer('BCRYPT_COST'),
    LOGIN_MAX_FAILURES: integer('LOGIN_MAX_FAILURES'),
    LOGIN_WINDOW_SECONDS: integer('LOGIN_WINDOW_SECONDS'),
    LOGIN_IP_MAX_FAILURES: integer('LOGIN_IP_MAX_FAILURES'),
    LOGIN_IP_WINDOW_SECONDS: integer('LOGIN_IP_WINDOW_SECONDS'),
    REGISTER_RATE_LIMIT: integer('REGISTER_RATE_LIMIT'),
    REGISTER_RATE_WINDOW_SECONDS: integer('REGISTER_RATE_WINDOW_SECONDS'),
    DATABASE_QUERY_TIMEOUT_MS: integer('DATABASE_QUERY_TIMEOUT_MS'),
    DATABASE_LOCK_TIMEOUT_MS: integer('DATABASE_LOCK_TIMEOUT_MS'),
    CLEANUP_STATEMENT_TIMEOUT_MS: integer('CLEANUP_STATEMENT_TIMEOUT_MS'),
    MIGRATION_LOCK_TIMEOUT_MS: integer('MIGRATION_LOCK_TIMEOUT_MS'),
    SESSION_MAX_AGE_SECONDS: integer('SESSION_MAX_AGE_SECONDS'),
    MAX_SESSIONS_PER_USER: integer('MAX_SESSIONS_PER_USER'),
    AUDIT_RETENTION_DAYS: integer('AUDIT_RETENTION_DAYS'),
    PASSWORD_RESET_TTL_SECONDS: integer('PASSWORD_RESET_TTL_SECONDS'),
    PASSWORD_RESET_EMAIL_LIMIT: integer('PASSWORD_RESET_EMAIL_LIMIT'),
    PASSWORD_RESET_IP_LIMIT: integer('PASSWORD_RESET_IP_LIMIT'),
    PASSWORD_RESET_WINDOW_SECONDS: integer('PASSWORD_RESET_WINDOW_SECONDS'),
    /** The front-end's reset page, e.g. `https://app.example.com/reset-password?token={token}`. */
    PASSWORD_RESET_URL: v.optional(linkUrl('PASSWORD_RESET_URL')),
    /**
     * The front-end's account-deletion page (the web page app stores ask for), as PASSWORD_RESET_URL; without it, no
     * deletion link is mailed (`POST /auth/account-deletion` answers 503), and `DELETE /users/me` works as ever.
     */
    ACCOUNT_DELETION_URL: v.optional(linkUrl('ACCOUNT_DELETION_URL')),
    /** The sender of every mail, `Name <address>` or an address; in AWS an address of the SES identity. */
    MAIL_FROM: v.optional(text),
    PRODUCT_NAME: v.optional(text, TEXT_DEFAULTS.PRODUCT_NAME),
    EMAIL_VERIFICATION: v.optional(
      v.picklist(EMAIL_VERIFICATION_MODES, 'EMAIL_VERIFICATION must be optional or required'),
      TEXT_DEFAULTS.EMAIL_VERIFICATION,
    ),
    /** Local (or any SMTP relay): `smtp://host:port`; without it mail goes through Amazon SES. */
    SMTP_URL: v.optional(
      v.pipe(text, v.regex(/^smtps?:\/\//i, 'SMTP_URL must start with smtp:// or smtps://')),
    ),
    /** The function that sends mail, invoked asynchronously by the functions that queue one. */
    MAILER_FUNCTION_NAME: v.optional(text),
    /** Lambda's own endpoint, for the local stand-in (as the AWS SDKs read it). */
    AWS_ENDPOINT_URL_LAMBDA: v.optional(text),
    /** Secrets Manager's own endpoint, for the local stand-in (as the AWS SDKs read it). */
    AWS_ENDPOINT_URL_SECRETS_MANAGER: v.optional(text),
    /** CloudFormation's own endpoint, for a stand-in (as the AWS SDKs read it). */
    AWS_ENDPOINT_URL_CLOUDFORMATION: v.optional(text),
    /** The stack that deploys migrate (its ARN): migrate asks whether it is rolling back, and then does nothing. */
    STACK_ID: v.optional(text),
    /**
     * The AWS APIs' FIPS endpoints, as every AWS SDK reads the same variable (`true` or `false`): the hand-signed calls
     * (`shared/platform/aws-endpoints.ts`) and the SDK clients then agree. Set on every function by context
     * `useFipsEndpoints`.
     */
    AWS_USE_FIPS_ENDPOINT: v.optional(
      v.pipe(
        v.picklist(['true', 'false'], 'AWS_USE_FIPS_ENDPOINT must be true or false'),
        v.transform((value) => value === 'true'),
      ),
    ),
    /** Set by Lambda: the region, and the function role's credentials (never logged, never echoed). */
    AWS_REGION: v.optional(text),
    AWS_ACCESS_KEY_ID: v.optional(text),
    AWS_SECRET_ACCESS_KEY: v.optional(text),
    AWS_SESSION_TOKEN: v.optional(text),
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

/**
 * What a function needs configured: each function asks only for its own secrets (least privilege). `signingKeys`:
 * it signs access tokens; `publicKeys`: it verifies them (or publishes them), from the published keys or, failing
 * those, from the signing keys.
 */
export type Need = 'database' | 'signingKeys' | 'publicKeys' | 'admin' | 'mail'

const NEEDS: Record<Need, { keys: (keyof Config)[]; problem: string }> = {
  database: {
    keys: ['DATABASE_URL', 'DATABASE_SECRET_ARN'],
    problem: 'DATABASE_URL or DATABASE_SECRET_ARN is required',
  },
  signingKeys: {
    keys: ['JWT_SIGNING_KEYS', 'JWT_SIGNING_KEYS_SECRET_ARN'],
    problem: 'JWT_SIGNING_KEYS or JWT_SIGNING_KEYS_SECRET_ARN is required',
  },
  publicKeys: {
    keys: [
      'JWT_PUBLIC_KEYS',
      'JWT_PUBLIC_KEYS_SECRET_ARN',
      'JWT_SIGNING_KEYS',
      'JWT_SIGNING_KEYS_SECRET_ARN',
    ],
    problem: 'JWT_PUBLIC_KEYS or JWT_PUBLIC_KEYS_SECRET_ARN (or the signing keys) is required',
  },
  admin: {
    keys: ['ADMIN_PASSWORD', 'ADMIN_PASSWORD_SECRET_ARN'],
    problem: 'ADMIN_PASSWORD or ADMIN_PASSWORD_SECRET_ARN is required',
  },
  mail: { keys: ['MAIL_FROM'], problem: 'MAIL_FROM is required' },
}

/**
 * Validates the environment once, failing with every problem listed; the only reader of `process.env`.
 * `needs` names the settings this function cannot run without.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  needs: readonly Need[] = ['database', 'publicKeys'],
): Config {
  const result = v.safeParse(EnvSchema, env, { abortEarly: false, abortPipeEarly: true })
  const problems = result.success ? [] : result.issues.map((issue) => formatIssue(issue))
  for (const need of needs) {
    if (!NEEDS[need].keys.some((key) => env[key])) problems.push(NEEDS[need].problem)
  }
  if (needs.includes('admin') && !env.ADMIN_EMAIL) problems.push('ADMIN_EMAIL is required')
  if (needs.includes('mail')) {
    if (!env.PASSWORD_RESET_URL) problems.push('PASSWORD_RESET_URL is required')
    if (!env.SMTP_URL && !env.AWS_REGION) problems.push('SMTP_URL, or AWS_REGION for Amazon SES, is required')
  }
  if (problems.length > 0 || !result.success) throw new ConfigError(problems)
  return result.output
}

/**
 * How Lambda started this execution environment (`AWS_LAMBDA_INITIALIZATION_TYPE`: `on-demand`,
 * `provisioned-concurrency`, …; unset outside Lambda), read alone: the init of every function asks, and an on-demand
 * cold start should not validate the whole environment one more time for it.
 */
export const initializationType = (
  env: Record<string, string | undefined> = process.env,
): string | undefined => env.AWS_LAMBDA_INITIALIZATION_TYPE

/** The settings alone, requiring no secret: for what only states or tunes them (the OpenAPI document, tooling). */
export const loadSettings = (): Config => loadConfig(process.env, [])

function formatIssue(issue: v.BaseIssue<unknown>): string {
  const key = issue.path?.map((item) => String(item.key)).join('.')
  if (key && issue.input === undefined) return `${key} is required`
  // Never echo the received value: it may be a secret.
  return key ? `${key}: ${issue.message.replace(/,? ?but received .*$/, '')}` : issue.message
}
