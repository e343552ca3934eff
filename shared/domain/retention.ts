import type { RetentionRepository, RetentionTable } from './ports.ts'

/** Tables in an order where each purge can only make the next one's work smaller (sessions take their tokens). */
const TABLES: readonly RetentionTable[] = [
  'sessions',
  'refresh_tokens',
  'login_attempts',
  'rate_limits',
  'password_reset_tokens',
  'mail_outbox',
  'security_events',
]

/**
 * Deletes what no rule reads any more, a bounded batch at a time so no statement holds locks for long, until each
 * table has nothing left or the time budget is spent (the next run continues). The count deleted per table, and
 * whether everything stale was reached.
 */
export async function purgeStaleRows(
  retention: RetentionRepository,
  {
    batchSize,
    budgetMs,
    now = () => performance.now(),
  }: { batchSize: number; budgetMs: number; now?: () => number },
): Promise<{ deleted: Record<RetentionTable, number>; complete: boolean }> {
  const deadline = now() + budgetMs
  const deleted = Object.fromEntries(TABLES.map((table) => [table, 0])) as Record<RetentionTable, number>
  for (const table of TABLES) {
    for (;;) {
      if (now() >= deadline) return { deleted, complete: false }
      const count = await retention.purge(table, batchSize)
      deleted[table] += count
      if (count < batchSize) break
    }
  }
  return { deleted, complete: true }
}
