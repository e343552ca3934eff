import type { Context } from 'aws-lambda'
import { cleanupFromEnvironment } from '#shared/app/operations'
import { logger } from '#shared/platform/logger'

/** Seconds kept back from the function's timeout, so the last batch finishes and the counts are logged. */
const MARGIN_MS = 5000

/**
 * Deletes what no rule reads any more (expired tokens and sessions, passed limit windows, audit events past their
 * retention), in bounded batches. Runs on a schedule; a run cut short by its budget is continued by the next.
 */
export const handler = async (_event: unknown, context?: Pick<Context, 'getRemainingTimeInMillis'>) => {
  const started = performance.now()
  const budgetMs = Math.max(1000, (context?.getRemainingTimeInMillis() ?? 60_000) - MARGIN_MS)
  const { deleted, complete } = await cleanupFromEnvironment(budgetMs)
  logger.info('cleanup done', { ...deleted, complete, durationMs: Math.round(performance.now() - started) })
  return { deleted, complete }
}
