/**
 * The composition root: the only room that imports `db/`. It reads the configuration, fetches the secrets, opens
 * the database and builds the services, once per container (cold start); warm invocations reuse the result.
 */
import { createDatabase, type DatabaseHandle } from '#db/client'
import { checkDatabase } from '#db/health'
import { createLoginRepository } from '#db/repositories/logins'
import { createSessionRepository } from '#db/repositories/sessions'
import { createUserRepository } from '#db/repositories/users'
import { type AuthService, createAuthService } from '#shared/domain/auth-service'
import { createPasswordHasher } from '#shared/domain/passwords'
import { createTokenService, systemClock } from '#shared/domain/tokens'
import {
  SECRETS_CONNECT_TIMEOUT_MS,
  SECRETS_MAX_ATTEMPTS,
  SECRETS_REQUEST_TIMEOUT_MS,
  SERVER_FIRST_GRACE_MS,
} from '#shared/platform/budget'
import { assertSigningSecret, type Config, loadConfig } from '#shared/platform/config'
import { createSecretReader, readJsonField, type SecretReader } from '#shared/platform/secrets'

/** The dependencies of every API function. */
export interface Container {
  config: Config
  database: DatabaseHandle
  auth: AuthService
  /** True when the database answers a trivial query; never throws. */
  databaseReachable(): Promise<boolean>
}

let container: Promise<Container> | undefined

/**
 * The API functions' dependencies, built once per container (cold start) and shared by warm invocations.
 * A failed build (a secret that could not be read) is forgotten, so the next invocation tries again.
 */
export function getContainer(): Promise<Container> {
  if (!container) {
    container = buildContainer()
    container.catch(() => {
      container = undefined
    })
  }
  return container
}

/** Closes the pool and forgets the container (the local server's shutdown, and tests). */
export async function disposeContainer(): Promise<void> {
  const current = container
  container = undefined
  if (current) await (await current.catch(() => undefined))?.database.close()
}

/** A Secrets Manager reader, made only when some secret is configured by ARN (never locally). */
export async function secretReaderFor(config: Config): Promise<SecretReader | undefined> {
  if (!config.JWT_SECRET_ARN && !config.DATABASE_SECRET_ARN && !config.ADMIN_PASSWORD_SECRET_ARN)
    return undefined
  const { SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager')
  // Bounded, as every wait of an invocation is: the SDK's own defaults never give up on a silent endpoint.
  return createSecretReader(
    new SecretsManagerClient({
      maxAttempts: SECRETS_MAX_ATTEMPTS,
      requestHandler: {
        connectionTimeout: SECRETS_CONNECT_TIMEOUT_MS,
        requestTimeout: SECRETS_REQUEST_TIMEOUT_MS,
      },
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

/** The one place a database handle is made from the configuration. */
export const openDatabase = (config: Config, url: string, poolMax = config.DATABASE_POOL_MAX) =>
  createDatabase({
    url,
    wsProxy: config.DATABASE_WS_PROXY,
    connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS,
    // The server's statement_timeout (the same setting) should cancel first, with a definite "rolled back".
    queryTimeoutMs: config.DATABASE_QUERY_TIMEOUT_MS + SERVER_FIRST_GRACE_MS,
    poolMax,
  })

async function buildContainer(): Promise<Container> {
  const config = loadConfig()
  const secrets = await secretReaderFor(config)
  const [jwtSecret, databaseUrl] = await Promise.all([
    inlineOrSecret(config.JWT_SECRET, config.JWT_SECRET_ARN, secrets),
    resolveDatabaseUrl(config, secrets),
  ])

  const database = openDatabase(config, databaseUrl)
  // The first connection is opened now, during init, instead of by the first request's query: it overlaps the
  // rest of the cold start (for register, the whole bcrypt hash), and on Neon it starts waking a suspended compute.
  database.warm()
  const sessionPolicy = { maxAgeSeconds: config.SESSION_MAX_AGE_SECONDS }
  const auth = createAuthService({
    users: createUserRepository(database.db, {
      maxPerWindow: config.REGISTER_RATE_LIMIT,
      windowSeconds: config.REGISTER_RATE_WINDOW_SECONDS,
    }),
    logins: createLoginRepository(
      database.db,
      {
        maxFailures: config.LOGIN_MAX_FAILURES,
        windowSeconds: config.LOGIN_WINDOW_SECONDS,
        ipMaxFailures: config.LOGIN_IP_MAX_FAILURES,
        ipWindowSeconds: config.LOGIN_IP_WINDOW_SECONDS,
      },
      sessionPolicy,
    ),
    sessions: createSessionRepository(database.db, sessionPolicy),
    passwords: createPasswordHasher({ cost: config.BCRYPT_COST }),
    tokens: createTokenService({
      secret: assertSigningSecret(jwtSecret),
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      accessTokenTtlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
      refreshTokenTtlSeconds: config.REFRESH_TOKEN_TTL_SECONDS,
      clock: systemClock,
    }),
  })
  return { config, database, auth, databaseReachable: () => checkDatabase(database.db) }
}
