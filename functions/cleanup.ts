import type { Context } from 'aws-lambda'
import { cleanupFromEnvironment } from '#shared/app/operations'
import { logger } from '#shared/platform/logger'

/** Kept back from the function's timeout, for the counts to be logged. */
const MARGIN_MS = 1000

/**
 * Deletes what no rule reads any more (expired tokens and sessions, passed limit windows, audit events past their
 * retention), in bounded batches. Runs on a schedule; a run cut short by its budget is continued by the next. A
 * table that failed is logged (`cleanup table failed`) while the others are cleaned; the invocation then fails too,
 * naming it, so Lambda's Errors metric and the function's log show it.
 */
export const handler = async (_event: unknown, context?: Pick<Context, 'getRemainingTimeInMillis'>) => {
  const started = performance.now()
  const budgetMs = Math.max(0, (context?.getRemainingTimeInMillis() ?? 60_000) - MARGIN_MS)
  const result = await cleanupFromEnvironment(budgetMs)
  const { deleted, expiryFilled, complete, failed } = result
  logger.info('cleanup done', {
    ...deleted,
    expiryFilled,
    complete,
    failed: failed.join(', '),
    durationMs: Math.round(performance.now() - started),
  })
  if (failed.length > 0)
    throw new Error(`cleanup failed for ${failed.join(', ')}; the other tables were cleaned`)
  return result
}
