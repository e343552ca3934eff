/** The operator functions' work (migrate on every deploy, seed-admin on demand), wired like the API's container. */
import * as v from 'valibot'
import { CutoverError, type CutoverReport, parseCutoverRequest, runCutover } from '#db/cutover/index'
import { sqlState } from '#db/errors'
import {
  MigrationJournalError,
  type MigrationLimits,
  MigrationLockTimeoutError,
  type MigrationResult,
  MigrationRoleError,
  runMigrations,
  type ServerTimeouts,
} from '#db/migrate'
import { createRetentionRepository } from '#db/repositories/retention'
import { createUserRepository } from '#db/repositories/users'
import { createAdminSeeder, type SeedOutcome } from '#shared/domain/admin'
import { DomainError } from '#shared/domain/errors'
import { createPasswordHasher } from '#shared/domain/passwords'
import { type PurgeResult, purgeStaleRows } from '#shared/domain/retention'
import { EmailSchema, NewPasswordSchema } from '#shared/domain/schemas'
import { SERVER_FIRST_GRACE_MS } from '#shared/platform/budget'
import { type Config, ConfigError, loadConfig } from '#shared/platform/config'
import { logger } from '#shared/platform/logger'
import type { SecretReader } from '#shared/platform/secrets'
import { isRollingBack, stackStatus } from '#shared/platform/stack-status'
import {
  cleanupDatabaseUrl,
  functionRole,
  inlineOrSecret,
  openDatabase,
  resolveDatabaseUrl,
  secretReaderFor,
} from './resources.ts'

/**
 * An error an operator function can throw safely. Lambda logs a thrown error whole, and drizzle's carry the SQL and
 * its parameters (for the seed, the admin's password hash): only the class, the SQLSTATE and, for configuration
 * errors, the list of missing keys go out.
 */
/** The API sends single statements; a transaction left open that long is a bug holding locks. */
const IDLE_IN_TRANSACTION_TIMEOUT_MS = 10_000

export function operatorError(step: string, error: unknown): Error {
  // Our own errors' messages are written for the operator and carry nothing secret.
  if (
    error instanceof ConfigError ||
    error instanceof DomainError ||
    error instanceof MigrationJournalError ||
    error instanceof MigrationLockTimeoutError ||
    error instanceof MigrationRoleError
  )
    return new Error(`${step} failed: ${error.message}`)
  const name = error instanceof Error ? error.name : typeof error
  const code = sqlState(error)
  return new Error(`${step} failed: ${name}${code ? ` (SQLSTATE ${code})` : ''}`)
}

/** What the server enforces on the API role's statements: the configured timeouts. */
export const serverTimeouts = (config: Config): ServerTimeouts => ({
  statementMs: config.DATABASE_QUERY_TIMEOUT_MS,
  lockMs: config.DATABASE_LOCK_TIMEOUT_MS,
  idleInTransactionMs: IDLE_IN_TRANSACTION_TIMEOUT_MS,
})

/** What the server enforces on the cleanup role's statements: a bounded batch's own timeout, the API's lock wait. */
export const cleanupTimeouts = (config: Config): ServerTimeouts => ({
  ...serverTimeouts(config),
  statementMs: config.CLEANUP_STATEMENT_TIMEOUT_MS,
})

/** The login roles migrate makes or aligns: the API's, and the cleanup's when it has a connection of its own. */
async function loginRoles(config: Config, secrets: SecretReader | undefined) {
  const [apiUrl, cleanupUrl] = await Promise.all([
    resolveDatabaseUrl(config, secrets, 'api'),
    cleanupDatabaseUrl(config, secrets),
  ])
  return {
    api: { url: apiUrl, timeouts: serverTimeouts(config) },
    cleanup: cleanupUrl ? { url: cleanupUrl, timeouts: cleanupTimeouts(config) } : undefined,
  }
}

/** Outside Lambda (npm start, the tests), how long migrate waits for a concurrent run's lock. */
const LOCAL_LOCK_WAIT_MS = 60_000

/** How long migrate may wait: for a concurrent run's lock, and for each table lock its statements take. */
export const migrationLimits = (config: Config, lockWaitMs = LOCAL_LOCK_WAIT_MS): MigrationLimits => ({
  lockWaitMs,
  statementLockTimeoutMs: config.MIGRATION_LOCK_TIMEOUT_MS,
})

/** What migrate did: the migrations it applied, or nothing at all during a rollback of its stack. */
export type MigrateOutcome = MigrationResult | { skipped: 'rollback'; stackStatus: string }

/** Each attempt to read the stack's status, and how many: a few seconds in all, beside the migrations' time. */
const STACK_STATUS_ATTEMPT_MS = 3000
const STACK_STATUS_ATTEMPTS = 3

/**
 * The stack's status when migrate runs in a deploy of it (`STACK_ID`); undefined outside one (npm start, the tests, a
 * machine) and when it cannot be read: migrate then does its work as ever, so a passing CloudFormation glitch never
 * skips a deploy's migrations.
 */
async function deployingStackStatus(config: Config): Promise<string | undefined> {
  if (!config.STACK_ID) return undefined
  try {
    return await stackStatus({
      ...functionRole(config, "the stack's status"),
      endpoint: config.AWS_ENDPOINT_URL_CLOUDFORMATION,
      stackId: config.STACK_ID,
      attemptTimeoutMs: STACK_STATUS_ATTEMPT_MS,
      maxAttempts: STACK_STATUS_ATTEMPTS,
    })
  } catch (error) {
    logger.warn('migrate could not read its stack’s status; it migrates as ever', {
      error: error instanceof Error ? error.message : String(error),
    })
    return undefined
  }
}

/**
 * The migrate function's work: reads only the database secret (its direct URL) and applies the migrations. While its
 * stack rolls back it does nothing and succeeds, without reaching the database: CloudFormation's Trigger runs the
 * previous version of migrate on a rollback too, and the database already holds what the failed deploy applied (its
 * migrations stay: expand, then contract), which that version's code runs on. A rollback that failed here would leave
 * the stack in UPDATE_ROLLBACK_FAILED, as it would whenever Neon cannot be reached.
 */
export async function migrateFromEnvironment(
  options: { lockWaitMs?: number | undefined } = {},
): Promise<MigrateOutcome> {
  try {
    const config = loadConfig(process.env, ['database'])
    const status = await deployingStackStatus(config)
    if (status && isRollingBack(status)) {
      logger.warn('migrate skipped: its stack is rolling back, and the database keeps what it holds', {
        stackStatus: status,
      })
      return { skipped: 'rollback', stackStatus: status }
    }
    const secrets = await secretReaderFor(config)
    const [url, roles] = await Promise.all([
      resolveDatabaseUrl(config, secrets, 'migrations'),
      loginRoles(config, secrets),
    ])
    return await runMigrations({
      url,
      wsProxy: config.DATABASE_WS_PROXY,
      ...roles,
      limits: migrationLimits(config, options.lockWaitMs),
    })
  } catch (error) {
    throw operatorError('migrate', error)
  }
}

export { CUTOVER_DECISIONS, type CutoverReport } from '#db/cutover/index'

/**
 * The cutover function's work (`npm run cutover` locally): carries the FastAPI backend's users over, once. `request`
 * is the function's event: `{"apply": false}` reports, changing nothing; `{"apply": true, "emailCollisions": …}`
 * applies in one transaction, then migrate runs (it applies nothing, and creates or aligns the API's role). Connects
 * as migrate does: the database secret's directUrl, or DATABASE_MIGRATION_URL / DATABASE_URL.
 */
export async function cutoverFromEnvironment(
  request: unknown,
  options: { lockWaitMs?: number | undefined } = {},
): Promise<CutoverReport> {
  let report: CutoverReport
  let migrate: () => Promise<MigrationResult>
  try {
    const parsed = parseCutoverRequest(request)
    const config = loadConfig(process.env, ['database'])
    const secrets = await secretReaderFor(config)
    const [url, roles] = await Promise.all([
      resolveDatabaseUrl(config, secrets, 'migrations'),
      loginRoles(config, secrets),
    ])
    const limits = migrationLimits(config, options.lockWaitMs)
    report = await runCutover({
      url,
      wsProxy: config.DATABASE_WS_PROXY,
      request: parsed,
      lockWaitMs: limits.lockWaitMs,
    })
    migrate = () =>
      runMigrations({
        url,
        wsProxy: config.DATABASE_WS_PROXY,
        ...roles,
        limits,
      })
  } catch (error) {
    // Its messages are the operator's: the step, the SQLSTATE, the flag to choose; never SQL or a hash.
    if (error instanceof CutoverError) throw new Error(error.message)
    throw operatorError('cutover', error)
  }
  if (!report.applied) return report
  try {
    const { applied } = await migrate()
    return { ...report, applied: { ...report.applied, migrationsAfterCommit: applied } }
  } catch (error) {
    throw operatorError('cutover committed; the migrate run after it (run migrate again once fixed)', error)
  }
}

/** The seed-admin function's work: reads the database secret and the admin password, never the JWT secret. */
export async function seedAdminFromEnvironment(): Promise<{ outcome: SeedOutcome; email: string }> {
  try {
    return await seedAdmin()
  } catch (error) {
    throw operatorError('seed-admin', error)
  }
}

async function seedAdmin(): Promise<{ outcome: SeedOutcome; email: string }> {
  const config = loadConfig(process.env, ['database', 'admin'])
  const secrets = await secretReaderFor(config)
  const [url, password] = await Promise.all([
    resolveDatabaseUrl(config, secrets),
    inlineOrSecret(config.ADMIN_PASSWORD, config.ADMIN_PASSWORD_SECRET_ARN, secrets),
  ])
  const email = v.safeParse(EmailSchema, config.ADMIN_EMAIL)
  if (!email.success) throw new ConfigError(['ADMIN_EMAIL is not a valid email address'])
  if (!v.is(NewPasswordSchema, password)) {
    throw new ConfigError([
      'the admin password must be 8 to 72 bytes and not on the blocklist of common passwords',
    ])
  }

  const database = openDatabase(config, url, 1)
  try {
    const seed = createAdminSeeder({
      users: createUserRepository(database.db),
      passwords: createPasswordHasher({ cost: config.BCRYPT_COST }),
    })
    return { outcome: await seed({ email: email.output, password }), email: email.output }
  } finally {
    await database.close()
  }
}

/** Rows per DELETE: small enough that each statement is quick, large enough that a run keeps up. */
const PURGE_BATCH_SIZE = 1000
/**
 * How long a cleanup run deletes at full speed before it pauses after each batch as long as the batch took: a run at
 * steady state (a few hundred milliseconds at a million students) never pauses; a backlog drains at half speed,
 * which leaves the API's statements room (`npm run bench:scale` measures both).
 */
const PURGE_FULL_SPEED_MS = 1000

export type { PurgeResult } from '#shared/domain/retention'

/**
 * The cleanup function's work (on a schedule in AWS, at start and every 15 minutes locally; `npm run bench:scale` calls it
 * too): gives sessions from before `sessions.expires_at` their expiry, then deletes ended sessions, expired tokens,
 * passed limit windows, old mail jobs and audit events older than AUDIT_RETENTION_DAYS, in bounded batches, and ends
 * within `budgetMs` (no batch starts that its statement timeout could carry past it, unless the budget is shorter
 * than two statement timeouts: then half of it is kept for the last batch). A table whose purge fails is
 * logged (its class and SQLSTATE, never SQL or parameters) and named in `failed`; the others are cleaned all the
 * same. Connects as the cleanup's own role (DATABASE_CLEANUP_URL, or the database secret's `cleanupUrl`), else as
 * the schema owner (DATABASE_MIGRATION_URL / DATABASE_URL, or `directUrl`): never as the API, which may not delete
 * the audit trail. Reads the database secret only.
 */
export async function cleanupFromEnvironment(budgetMs: number): Promise<PurgeResult> {
  const started = performance.now()
  try {
    const config = loadConfig(process.env, ['database'])
    const secrets = await secretReaderFor(config)
    const url =
      (await cleanupDatabaseUrl(config, secrets)) ?? (await resolveDatabaseUrl(config, secrets, 'migrations'))
    const statementMs = config.CLEANUP_STATEMENT_TIMEOUT_MS
    const database = openDatabase(config, url, 1, statementMs)
    try {
      const retention = createRetentionRepository(database.db, {
        loginWindowSeconds: config.LOGIN_WINDOW_SECONDS,
        ipWindowSeconds: config.LOGIN_IP_WINDOW_SECONDS,
        registerWindowSeconds: config.REGISTER_RATE_WINDOW_SECONDS,
        resetWindowSeconds: config.PASSWORD_RESET_WINDOW_SECONDS,
        sessionMaxAgeSeconds: config.SESSION_MAX_AGE_SECONDS,
        auditRetentionDays: config.AUDIT_RETENTION_DAYS,
      })
      // Time for one more batch at its longest, kept out of the loop's budget; half the budget at most, so a short
      // run still cleans.
      const left = budgetMs - (performance.now() - started)
      const lastBatch = Math.min(statementMs + SERVER_FIRST_GRACE_MS, left / 2)
      return await purgeStaleRows(retention, {
        batchSize: PURGE_BATCH_SIZE,
        budgetMs: Math.max(0, left - lastBatch),
        fullSpeedMs: PURGE_FULL_SPEED_MS,
        onFailure: (table, error) => {
          const code = sqlState(error)
          logger.error('cleanup table failed', {
            table,
            error: error instanceof Error ? error.name : typeof error,
            ...(code ? { sqlState: code } : {}),
          })
        },
      })
    } finally {
      await database.close()
    }
  } catch (error) {
    throw operatorError('cleanup', error)
  }
}
