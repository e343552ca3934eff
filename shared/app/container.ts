/**
 * The composition root: the only room that imports `db/`. Each API function builds its own container from what it
 * passes (`apiContainer`), once per cold start; warm invocations reuse it. Locally, where one process serves every
 * function, each still gets its own, as in Lambda.
 */
import { preloadDriver } from '#db/client'
import { checkDatabase } from '#db/health'
import { createLoginRepository } from '#db/repositories/logins'
import { createPasswordCostRepository } from '#db/repositories/password-costs'
import { createSessionRepository } from '#db/repositories/sessions'
import { createUserRepository } from '#db/repositories/users'
import type { AccountDeletionService } from '#shared/domain/account-deletion-service'
import type { AccountExportService } from '#shared/domain/account-export'
import type { AdminService } from '#shared/domain/admin-service'
import { type AuthService, createAuthService } from '#shared/domain/auth-service'
import type { EmailCodeService } from '#shared/domain/email-code-service'
import type { PasswordResetService } from '#shared/domain/password-reset-service'
import type { PasswordHasher, PasswordHasherSettings } from '#shared/domain/passwords'
import type { MailQueue } from '#shared/domain/ports'
import type { PreferencesService } from '#shared/domain/preferences'
import type { SessionPrincipal } from '#shared/domain/principal'
import { createTokenService, systemClock } from '#shared/domain/tokens'
import { type Config, loadConfig, type Need } from '#shared/platform/config'
import { duringInit } from '#shared/platform/init'
import { tokenKeySource } from './keys.ts'
import { once } from './memo.ts'
import { type DatabaseHandle, openDatabase, resolveDatabaseUrl, secretReaderFor } from './resources.ts'

/** The dependencies of an API function. */
export interface Container extends Features {
  config: Config
  database: DatabaseHandle
  auth: AuthService
  /** The principal of a bearer access token: what a `session` or `superuser` route's caller is. */
  authenticate(accessToken: string): Promise<SessionPrincipal>
  /** For a `superuser` route: refuses a login older than ADMIN_MAX_AUTH_AGE_SECONDS. */
  requireRecentLogin(principal: SessionPrincipal): void
  /** True when the database answers a trivial query; never throws. */
  databaseReachable(): Promise<boolean>
}

/** The services a function may name in `features` (shared/app/features.ts builds each). */
interface Features {
  /** Forgotten passwords: reset requests and their confirmation. */
  resets: PasswordResetService
  codes: EmailCodeService
  /** What operators do to accounts (the `/admin` routes). */
  admin: AdminService
  /** A student's study preferences, reached only as the user (row-level security). */
  preferences: PreferencesService
  /** A user deleting their own account, from the app or by a mailed link. */
  deletion: AccountDeletionService
  /** A user's copy of their own data. */
  exports: AccountExportService
}

/** What a feature is built from: the container's own parts. */
export interface ContainerCore {
  config: Config
  database: DatabaseHandle
  auth: AuthService
  passwords: PasswordHasher
  /** Absent when the deployment sends no mail. */
  mail: MailQueue | undefined
}

/** What a function passes to build its container. */
export interface ContainerOptions {
  /** It signs access tokens (login, token, refresh): the signing keys are then required. */
  signs?: boolean
  /**
   * bcrypt (`createPasswordHasher`), passed by the functions that check or hash a password: only their bundles carry
   * it, and the others' cold starts do not evaluate it.
   */
  passwords?: (settings: PasswordHasherSettings) => PasswordHasher
  /**
   * The mail queue (`mailQueue`, shared/app/mail-queue.ts), passed by exactly the functions the routes table says
   * queue mail (`queuesMail`, which the stack lets invoke the mail sender): only their bundles carry the Lambda invoke
   * and its request signing. Without it the function sends no mail, as a deployment without a mail sender.
   */
  mail?: (config: Config) => MailQueue | undefined
  /** The services beyond sign-in it uses (shared/app/features.ts): only those are bundled and built. */
  features?: { [K in keyof Features]?: (core: ContainerCore) => Features[K] }
}

const containers = new Set<Container>()

/**
 * A function's container, built on first call (the function's init) and shared by its warm invocations; a failed
 * build (a secret that could not be read, a key set not created yet) is forgotten, so the next invocation retries.
 */
export function apiContainer(options: ContainerOptions = {}): () => Promise<Container> {
  return once(
    async () => {
      const container = await buildContainer(options)
      containers.add(container)
      return container
    },
    async (container) => {
      containers.delete(container)
      await container.database.close()
    },
  )
}

/** Every container built in this process and not disposed of (tests and the bench count their statements). */
export const builtContainers = (): readonly Container[] => [...containers]

async function buildContainer(options: ContainerOptions): Promise<Container> {
  const needs: Need[] = ['database', 'publicKeys', ...(options.signs ? (['signingKeys'] as const) : [])]
  const config = loadConfig(process.env, needs)
  // Checked before anything is opened: a mail queue that cannot be made fails the build without a pool left behind.
  const mail = options.mail?.(config)
  // While the first secret is on its way, the database driver loads what its connection will need.
  const secrets = await secretReaderFor(config, preloadDriver)
  // The connection opens as soon as its string is known, while the keys may still be on their way: during init, it
  // overlaps the rest of the cold start, and on Neon starts waking the compute. A provisioned environment's init
  // waits for it to be open (`duringInit`).
  const opening = resolveDatabaseUrl(config, secrets).then((url) => {
    const opened = openDatabase(config, url)
    duringInit(opened.warm())
    return opened
  })
  const [keys, opened] = await Promise.allSettled([tokenKeySource(config, secrets), opening])
  if (keys.status === 'rejected' || opened.status === 'rejected') {
    // Forgotten whole (the next invocation builds again): a pool opened for it is closed, not left behind.
    if (opened.status === 'fulfilled') await opened.value.close().catch(() => {})
    throw keys.status === 'rejected' ? keys.reason : (opened as PromiseRejectedResult).reason
  }
  const database = opened.value
  const sessionPolicy = {
    maxAgeSeconds: config.SESSION_MAX_AGE_SECONDS,
    reuseIntervalSeconds: config.REFRESH_TOKEN_REUSE_INTERVAL_SECONDS,
    maxPerUser: config.MAX_SESSIONS_PER_USER,
  }
  // The hasher reads the highest stored cost (cached for minutes): every check it runs costs a compare at that cost.
  const passwords =
    options.passwords?.({
      cost: config.BCRYPT_COST,
      storedCosts: createPasswordCostRepository(database.db),
    }) ?? withoutPasswords
  const auth = createAuthService({
    mail,
    emailVerification: config.EMAIL_VERIFICATION,
    adminAuth: { maxAgeSeconds: config.ADMIN_MAX_AUTH_AGE_SECONDS, now: () => systemClock.now() },
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
      keys: keys.value,
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      clientId: config.JWT_CLIENT_ID,
      accessTokenTtlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
      refreshTokenTtlSeconds: config.REFRESH_TOKEN_TTL_SECONDS,
      clock: systemClock,
    }),
  })
  const core: ContainerCore = { config, database, auth, passwords, mail }
  const feature = <K extends keyof Features>(name: K): Features[K] =>
    options.features?.[name]?.(core) ?? notGiven<Features[K]>(name)
  return {
    config,
    database,
    auth,
    resets: feature('resets'),
    codes: feature('codes'),
    admin: feature('admin'),
    preferences: feature('preferences'),
    deletion: feature('deletion'),
    exports: feature('exports'),
    authenticate: auth.authenticate,
    requireRecentLogin: auth.requireRecentLogin,
    databaseReachable: () => checkDatabase(database.db),
  }
}

/**
 * A service a function was not given (`ContainerOptions.features`): its code paths never reach it, and say so if they
 * do, naming the option, at the first use of any of its methods.
 */
function notGiven<T>(name: string): T {
  return new Proxy({} as object, {
    get(_, property) {
      // Not a method: what a promise's resolution or a formatter looks for on any object.
      if (typeof property === 'symbol' || property === 'then' || property === 'toJSON') return undefined
      throw new Error(`this function was not given the ${name} feature (ContainerOptions.features)`)
    },
  }) as T
}

/** The hasher of a function that was given none: its code paths never reach a password, and say so if they do. */
const withoutPasswords: PasswordHasher = {
  hash: () => Promise.reject(new Error('this function was not given a password hasher (ContainerOptions)')),
  verify: () => Promise.reject(new Error('this function was not given a password hasher (ContainerOptions)')),
}
