/** Where a function's secrets and database come from: inline settings locally, Secrets Manager by ARN in AWS. */
import { createDatabase } from '#db/client'

import type { AwsCredentials } from '#shared/platform/aws-client'
import {
  SECRETS_CONNECT_TIMEOUT_MS,
  SECRETS_MAX_ATTEMPTS,
  SECRETS_MAX_BACKOFF_MS,
  SECRETS_REQUEST_TIMEOUT_MS,
  SERVER_FIRST_GRACE_MS,
} from '#shared/platform/budget'
import { type Config, ConfigError } from '#shared/platform/config'
import {
  createSecretReader,
  readJsonField,
  readOptionalJsonField,
  type SecretReader,
  secretsManagerFetcher,
} from '#shared/platform/secrets'

export type { DatabaseHandle } from '#db/client'

/**
 * The region and the role's credentials Lambda gives a function, which a signed AWS call needs, and whether it goes to
 * the FIPS endpoints; `what` says why.
 */
export function functionRole(
  config: Config,
  what: string,
): { region: string; credentials: AwsCredentials; fips: boolean } {
  const {
    AWS_REGION: region,
    AWS_ACCESS_KEY_ID: accessKeyId,
    AWS_SECRET_ACCESS_KEY: secretAccessKey,
  } = config
  if (!region || !accessKeyId || !secretAccessKey) {
    throw new ConfigError([`${what} needs AWS_REGION and the function role’s credentials`])
  }
  return {
    region,
    credentials: { accessKeyId, secretAccessKey, sessionToken: config.AWS_SESSION_TOKEN },
    fips: config.AWS_USE_FIPS_ENDPOINT ?? false,
  }
}

/** A Secrets Manager reader, made only when some secret is configured by ARN (never locally). */
export async function secretReaderFor(
  config: Config,
  whileWaiting?: () => void,
): Promise<SecretReader | undefined> {
  if (
    !config.JWT_SIGNING_KEYS_SECRET_ARN &&
    !config.JWT_PUBLIC_KEYS_SECRET_ARN &&
    !config.DATABASE_SECRET_ARN &&
    !config.ADMIN_PASSWORD_SECRET_ARN
  )
    return undefined
  const { region, credentials, fips } = functionRole(config, 'a secret by ARN')
  // Bounded, as every wait of an invocation is: each attempt within the connect and request budgets.
  return createSecretReader(
    secretsManagerFetcher({
      region,
      credentials,
      endpoint: config.AWS_ENDPOINT_URL_SECRETS_MANAGER,
      fips,
      attemptTimeoutMs: SECRETS_CONNECT_TIMEOUT_MS + SECRETS_REQUEST_TIMEOUT_MS,
      maxAttempts: SECRETS_MAX_ATTEMPTS,
      maxBackoffMs: SECRETS_MAX_BACKOFF_MS,
      whileWaiting,
    }),
  )
}

/** A setting given inline, else the secret its ARN names; `loadConfig` has checked that one of them is set. */
export function inlineOrSecret(
  inline: string | undefined,
  secretId: string | undefined,
  secrets: SecretReader | undefined,
): Promise<string> {
  if (inline !== undefined) return Promise.resolve(inline)
  if (!secretId || !secrets) throw new Error('setting is neither inline nor in Secrets Manager')
  return secrets.read(secretId)
}

/**
 * A connection string: the API's (`DATABASE_URL`, or the database secret's `pooledUrl`), or the migrations' (the
 * schema owner's: `DATABASE_MIGRATION_URL`, else `DATABASE_URL`, or the secret's `directUrl`).
 */
export function resolveDatabaseUrl(
  config: Config,
  secrets: SecretReader | undefined,
  connection: 'api' | 'migrations' = 'api',
): Promise<string> {
  const inline =
    connection === 'migrations' ? (config.DATABASE_MIGRATION_URL ?? config.DATABASE_URL) : config.DATABASE_URL
  if (inline !== undefined) return Promise.resolve(inline)
  if (!config.DATABASE_SECRET_ARN || !secrets)
    throw new Error('DATABASE_URL or DATABASE_SECRET_ARN is required')
  return readJsonField(
    secrets,
    config.DATABASE_SECRET_ARN,
    connection === 'migrations' ? 'directUrl' : 'pooledUrl',
  )
}

/**
 * The cleanup's own connection string, when one is configured: `DATABASE_CLEANUP_URL`, or the database secret's
 * `cleanupUrl` (a secret written before the cleanup had a role, or by hand, may hold none).
 */
export function cleanupDatabaseUrl(
  config: Config,
  secrets: SecretReader | undefined,
): Promise<string | undefined> {
  if (config.DATABASE_CLEANUP_URL !== undefined) return Promise.resolve(config.DATABASE_CLEANUP_URL)
  if (config.DATABASE_URL !== undefined || !config.DATABASE_SECRET_ARN || !secrets)
    return Promise.resolve(undefined)
  return readOptionalJsonField(secrets, config.DATABASE_SECRET_ARN, 'cleanupUrl')
}

/** The one place a database handle is made from the configuration. */
export const openDatabase = (
  config: Config,
  url: string,
  poolMax = config.DATABASE_POOL_MAX,
  statementTimeoutMs = config.DATABASE_QUERY_TIMEOUT_MS,
) =>
  createDatabase({
    url,
    wsProxy: config.DATABASE_WS_PROXY,
    connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS,
    // The server's statement_timeout (the same setting) should cancel first, with a definite "rolled back".
    queryTimeoutMs: statementTimeoutMs + SERVER_FIRST_GRACE_MS,
    poolMax,
  })
