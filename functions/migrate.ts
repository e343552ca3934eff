import { migrateFromEnvironment } from '#shared/app/operations'
import { logger } from '#shared/platform/logger'

/**
 * Applies the committed migrations. Invoked on every deploy that changes them, before the API functions are
 * updated; it throws on failure so the deploy fails. Safe to run twice at once, and idempotent.
 */
export const handler = async () => {
  const started = performance.now()
  const { applied, total } = await migrateFromEnvironment()
  logger.info('migrations applied', { applied, total, durationMs: Math.round(performance.now() - started) })
  return { applied, total }
}
