/**
 * The composition root: the only room that imports `db/`. It reads the configuration, fetches the secrets, opens
 * the database and builds the services, once per container (cold start); warm invocations reuse the result.
 */
import { createDatabase, type DatabaseHandle, preloadDriver } from '#db/client'
import { checkDatabase } from '#db/health'
import { createLoginRepository } from '#db/repositories/logins'
import { createMailJobRepository } from '#db/repositories/mail-jobs'
import { createPasswordResetRepository } from '#db/repositories/password-resets'
import { createSessionRepository } from '#db/repositories/sessions'
import { createUserRepository } from '#db/repositories/users'
import { type AuthService, createAuthService } from '#shared/domain/auth-service'
import { MailQueueUnavailableError, SigningKeysUnavailableError } from '#shared/domain/errors'
import { createMailer } from '#shared/domain/mail/mailer'
import { createPasswordResetService, type PasswordResetService } from '#shared/domain/password-reset-service'
import type { PasswordHasher } from '#shared/domain/passwords'
import type { MailQueue } from '#shared/domain/ports'
import {
  type PublicJwk,
  parsePublishedKeys,
  parseSigningKeySet,
  publishedKeys,
  type SigningKeySet,
} from '#shared/domain/signing-keys'
import { createTokenService, systemClock, type TokenKeys } from '#shared/domain/tokens'
import type { AwsCredentials } from '#shared/platform/aws-client'
import {
  MAIL_QUEUE_TIMEOUT_MS,
  SECRETS_CONNECT_TIMEOUT_MS,
  SECRETS_MAX_ATTEMPTS,
  SECRETS_REQUEST_TIMEOUT_MS,
  SERVER_FIRST_GRACE_MS,
} from '#shared/platform/budget'
import { type Config, ConfigError, loadConfig, type Need } from '#shared/platform/config'
import { createAsyncInvoker } from '#shared/platform/lambda-invoke'
import { logger } from '#shared/platform/logger'
import { createMailTransport } from '#shared/platform/mail-transport'
import {
  createSecretReader,
  readJsonField,
  type SecretReader,
  secretsManagerFetcher,
} from '#shared/platform/secrets'

/** The dependencies of every API function. */
export interface Container {
  config: Config
  database: DatabaseHandle
  auth: AuthService
  /** Forgotten passwords: reset requests and their confirmation. */
  resets: PasswordResetService
  /** True when the database answers a trivial query; never throws. */
  databaseReachable(): Promise<boolean>
}

let container: Promise<Container> | undefined

const VERIFIER_NEEDS: readonly Need[] = ['database', 'publicKeys']
const SIGNING_KEYS_REQUIRED = 'JWT_SIGNING_KEYS or JWT_SIGNING_KEYS_SECRET_ARN is required'

/** What a function adds to the shared dependencies. */
export interface ContainerOptions {
  /**
   * bcrypt (`createPasswordHasher`), passed by the functions that check or hash a password: only their bundles carry
   * it, and the others' cold starts do not evaluate it.
   */
  passwords?: PasswordHasherFactory
}

type PasswordHasherFactory = (settings: { cost: number }) => PasswordHasher

let passwordHasherFactory: PasswordHasherFactory | undefined

/**
 * The API functions' dependencies, built once per container (cold start) and shared by warm invocations.
 * A failed build (a secret that could not be read, a key set not created yet) is forgotten, so the next invocation
 * tries again.
 */
export function getContainer(options: ContainerOptions = {}): Promise<Container> {
  passwordHasherFactory ??= options.passwords
  return containerFor(VERIFIER_NEEDS)
}

/** The dependencies of a function that signs access tokens (login, token, refresh): the signing keys are required. */
export async function getSigningContainer(options: ContainerOptions = {}): Promise<Container> {
  passwordHasherFactory ??= options.passwords
  const built = await containerFor([...VERIFIER_NEEDS, 'signingKeys'])
  // Locally one process serves every function, and its container may have been built by one that does not sign.
  if (!built.config.JWT_SIGNING_KEYS && !built.config.JWT_SIGNING_KEYS_SECRET_ARN) {
    throw new ConfigError([SIGNING_KEYS_REQUIRED])
  }
  return built
}

function containerFor(needs: readonly Need[]): Promise<Container> {
  if (!container) {
    const building = buildContainer(needs)
    container = building
    building.catch(() => {
      if (container === building) container = undefined
    })
  }
  return container
}

/** How long a container uses the keys it read before reading them again, so that a rotation reaches warm ones. */
export const KEYS_MAX_AGE_MS = 10 * 60 * 1000

/** The published keys, and the signing set when this function has one; as read now. */
async function readTokenKeys(
  config: Config,
  secrets: SecretReader | undefined,
  read: 'cached' | 'again',
): Promise<TokenKeys> {
  const fromSecret = (secretId: string) => {
    if (!secrets) throw new Error('no secret reader')
    return read === 'again' ? secrets.reread(secretId) : secrets.read(secretId)
  }
  const [signingText, publicText] = await Promise.all([
    config.JWT_SIGNING_KEYS ??
      (config.JWT_SIGNING_KEYS_SECRET_ARN ? fromSecret(config.JWT_SIGNING_KEYS_SECRET_ARN) : undefined),
    config.JWT_PUBLIC_KEYS ??
      (config.JWT_PUBLIC_KEYS_SECRET_ARN ? fromSecret(config.JWT_PUBLIC_KEYS_SECRET_ARN) : undefined),
  ])
  // An inline value that is no key set is a mistake in the settings; a secret's, the placeholder a deploy made
  // before the first key set is written (a 503 until then, retried by the next request).
  const unusable = (name: string, inline: boolean) =>
    inline ? new ConfigError([`${name} is not a valid key set`]) : new SigningKeysUnavailableError()
  let signing: SigningKeySet | undefined
  if (signingText !== undefined) {
    signing = parseSigningKeySet(signingText)
    if (!signing) throw unusable('JWT_SIGNING_KEYS', config.JWT_SIGNING_KEYS !== undefined)
  }
  let published: PublicJwk[] | undefined
  if (publicText !== undefined) {
    published = parsePublishedKeys(publicText)
    if (!published) throw unusable('JWT_PUBLIC_KEYS', config.JWT_PUBLIC_KEYS !== undefined)
  } else if (signing) {
    published = publishedKeys(signing)
  }
  if (!published) throw new ConfigError(['JWT_PUBLIC_KEYS or JWT_PUBLIC_KEYS_SECRET_ARN is required'])
  return { signing, published }
}

/**
 * The keys, read at cold start; when they come from Secrets Manager, read again in the background once they are
 * `KEYS_MAX_AGE_MS` old (the requests meanwhile use the last ones), so a container outlives any rotation.
 */
async function tokenKeySource(
  config: Config,
  secrets: SecretReader | undefined,
): Promise<() => Promise<TokenKeys>> {
  let keys = await readTokenKeys(config, secrets, 'cached')
  if (!config.JWT_SIGNING_KEYS_SECRET_ARN && !config.JWT_PUBLIC_KEYS_SECRET_ARN) return async () => keys
  let readAt = Date.now()
  let refreshing: Promise<void> | undefined
  return async () => {
    if (!refreshing && Date.now() - readAt >= KEYS_MAX_AGE_MS) {
      refreshing = readTokenKeys(config, secrets, 'again')
        .then((fresh) => {
          keys = fresh
        })
        .catch((error: unknown) => {
          logger.warn('signing keys not read again', {
            error: error instanceof Error ? error.name : typeof error,
          })
        })
        .finally(() => {
          readAt = Date.now()
          refreshing = undefined
        })
    }
    return keys
  }
}

let published: Promise<() => Promise<readonly PublicJwk[]>> | undefined

/**
 * The published keys alone, for the functions that serve them (JWKS): no database, no signing key. Built once per
 * container like the API's dependencies; a failed build is retried by the next invocation.
 */
export function getPublishedKeys(): Promise<() => Promise<readonly PublicJwk[]>> {
  if (!published) {
    const building = (async () => {
      const config = loadConfig(process.env, ['publicKeys'])
      // Only the published keys: a function that publishes them has no business reading the private ones.
      const publicOnly: Config =
        (config.JWT_PUBLIC_KEYS ?? config.JWT_PUBLIC_KEYS_SECRET_ARN)
          ? { ...config, JWT_SIGNING_KEYS: undefined, JWT_SIGNING_KEYS_SECRET_ARN: undefined }
          : config
      const keys = await tokenKeySource(publicOnly, await secretReaderFor(publicOnly))
      return async () => (await keys()).published
    })()
    published = building
    building.catch(() => {
      if (published === building) published = undefined
    })
  }
  return published
}

/** Closes the pool and forgets the container (the local server's shutdown, and tests). */
export async function disposeContainer(): Promise<void> {
  const current = container
  const sender = mailer
  container = undefined
  published = undefined
  mailer = undefined
  if (current) await (await current.catch(() => undefined))?.database.close()
  if (sender) await (await sender.catch(() => undefined))?.close()
}

/** The region and the role's credentials Lambda gives a function, which a signed AWS call needs; `what` says why. */
function functionRole(config: Config, what: string): { region: string; credentials: AwsCredentials } {
  const {
    AWS_REGION: region,
    AWS_ACCESS_KEY_ID: accessKeyId,
    AWS_SECRET_ACCESS_KEY: secretAccessKey,
  } = config
  if (!region || !accessKeyId || !secretAccessKey) {
    throw new ConfigError([`${what} needs AWS_REGION and the function role’s credentials`])
  }
  return { region, credentials: { accessKeyId, secretAccessKey, sessionToken: config.AWS_SESSION_TOKEN } }
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
  const { region, credentials } = functionRole(config, 'a secret by ARN')
  // Bounded, as every wait of an invocation is: each attempt within the connect and request budgets.
  return createSecretReader(
    secretsManagerFetcher({
      region,
      credentials,
      endpoint: config.AWS_ENDPOINT_URL_SECRETS_MANAGER,
      attemptTimeoutMs: SECRETS_CONNECT_TIMEOUT_MS + SECRETS_REQUEST_TIMEOUT_MS,
      maxAttempts: SECRETS_MAX_ATTEMPTS,
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

async function buildContainer(needs: readonly Need[]): Promise<Container> {
  const config = loadConfig(process.env, needs)
  // Checked before anything is opened: a mail queue that cannot be made fails the build without a pool left behind.
  const mail = mailQueue(config)
  // While the first secret is on its way, the database driver loads what its connection will need.
  const secrets = await secretReaderFor(config, preloadDriver)
  // The connection opens as soon as its string is known, while the keys may still be on their way; it is opened now,
  // during init, instead of by the first request's query: it overlaps the rest of the cold start (for register, the
  // whole bcrypt hash), and on Neon it starts waking a suspended compute.
  const opening = resolveDatabaseUrl(config, secrets).then((url) => {
    const opened = openDatabase(config, url)
    opened.warm()
    return opened
  })
  const [keys, opened] = await Promise.allSettled([tokenKeySource(config, secrets), opening])
  if (keys.status === 'rejected' || opened.status === 'rejected') {
    // Forgotten whole (the next invocation builds again): a pool opened for it is closed, not left behind.
    if (opened.status === 'fulfilled') await opened.value.close().catch(() => {})
    throw keys.status === 'rejected' ? keys.reason : (opened as PromiseRejectedResult).reason
  }
  const tokenKeys = keys.value
  const database = opened.value
  const sessionPolicy = { maxAgeSeconds: config.SESSION_MAX_AGE_SECONDS }
  const passwords = lazyPasswordHasher(config.BCRYPT_COST)
  const auth = createAuthService({
    mail,
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
    passwords,
    tokens: createTokenService({
      keys: tokenKeys,
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      clientId: config.JWT_CLIENT_ID,
      accessTokenTtlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
      refreshTokenTtlSeconds: config.REFRESH_TOKEN_TTL_SECONDS,
      clock: systemClock,
    }),
  })
  const resets = createPasswordResetService({
    resets: createPasswordResetRepository(database.db, {
      emailLimit: config.PASSWORD_RESET_EMAIL_LIMIT,
      ipLimit: config.PASSWORD_RESET_IP_LIMIT,
      windowSeconds: config.PASSWORD_RESET_WINDOW_SECONDS,
      tokenTtlSeconds: config.PASSWORD_RESET_TTL_SECONDS,
    }),
    passwords,
    mail,
  })
  return { config, database, auth, resets, databaseReachable: () => checkDatabase(database.db) }
}

/**
 * The password hasher the function passed (`ContainerOptions.passwords`), made on first use: locally one process
 * serves every function and builds one container, whichever function comes first.
 */
function lazyPasswordHasher(cost: number): PasswordHasher {
  let hasher: PasswordHasher | undefined
  const get = () => {
    if (!passwordHasherFactory)
      throw new Error('this function was not given a password hasher (ContainerOptions)')
    hasher ??= passwordHasherFactory({ cost })
    return hasher
  }
  return {
    hash: (password) => get().hash(password),
    verify: (password, hash, options) => get().verify(password, hash, options),
  }
}

/**
 * The mail sender's queue: an asynchronous invocation of `MAILER_FUNCTION_NAME` with the job's id, signed with the
 * function role's credentials. None when no mail sender is configured (the deployment sends no mail).
 */
function mailQueue(config: Config): MailQueue | undefined {
  const functionName = config.MAILER_FUNCTION_NAME
  if (!functionName) return undefined
  const { region, credentials } = functionRole(config, 'MAILER_FUNCTION_NAME')
  const invoke = createAsyncInvoker({
    functionName,
    region,
    endpoint: config.AWS_ENDPOINT_URL_LAMBDA,
    credentials,
    timeoutMs: MAIL_QUEUE_TIMEOUT_MS,
  })
  return {
    async notify(jobId) {
      try {
        await invoke({ job: jobId })
      } catch (error) {
        // The job stays in mail_outbox, unsettled: an operator finds it there (docs/deploying.md).
        logger.error('mail job not handed to the mail sender', {
          job: jobId,
          error: error instanceof Error ? error.name : typeof error,
        })
        throw new MailQueueUnavailableError({ cause: error })
      }
    },
  }
}

/** The mail sender's dependencies (the `send-mail` function), built once per container. */
interface MailSender {
  deliver(jobId: string): Promise<string>
  close(): Promise<void>
}
let mailer: Promise<MailSender> | undefined

export function getMailer(): Promise<MailSender> {
  if (!mailer) {
    const building = (async () => {
      const config = loadConfig(process.env, ['database', 'mail'])
      const secrets = await secretReaderFor(config)
      // The transport first: one that cannot be made fails the build without a pool left open.
      const transport = await createMailTransport({
        smtpUrl: config.SMTP_URL,
        region: config.AWS_REGION,
        from: config.MAIL_FROM as string,
      })
      const database = openDatabase(config, await resolveDatabaseUrl(config, secrets), 2)
      const { deliver } = createMailer({
        jobs: createMailJobRepository(database.db),
        transport,
        settings: {
          productName: config.PRODUCT_NAME,
          resetUrl: config.PASSWORD_RESET_URL as string,
          resetTtlSeconds: config.PASSWORD_RESET_TTL_SECONDS,
        },
      })
      return {
        deliver,
        async close() {
          transport.close()
          await database.close()
        },
      }
    })()
    mailer = building
    building.catch(() => {
      if (mailer === building) mailer = undefined
    })
  }
  return mailer
}
