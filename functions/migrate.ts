import type { Context } from 'aws-lambda'
import { migrateFromEnvironment } from '#shared/app/operations'
import { logger } from '#shared/platform/logger'

/** Kept back from the function's remaining time for the migrations themselves, once the lock is had. */
const MIGRATING_MS = 60_000

/**
 * Applies the committed migrations. Invoked on every deploy that changes them, before the API functions are
 * updated; it throws on failure so the deploy fails. Safe to run twice at once (the second waits for the lock, within
 * the function's time), and idempotent. During a rollback of its stack it does nothing, and succeeds.
 */
export const handler = async (_event?: unknown, context?: Pick<Context, 'getRemainingTimeInMillis'>) => {
  const started = performance.now()
  const remaining = context?.getRemainingTimeInMillis()
  const lockWaitMs = remaining === undefined ? undefined : Math.max(1000, remaining - MIGRATING_MS)
  const outcome = await migrateFromEnvironment({ lockWaitMs })
  if ('skipped' in outcome) return outcome
  const { applied, total } = outcome
  logger.info('migrations applied', { applied, total, durationMs: Math.round(performance.now() - started) })
  return { applied, total }
}
