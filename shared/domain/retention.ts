import type { RetentionRepository, RetentionStep, RetentionTable } from './ports.ts'

/**
 * The steps in an order where each can only make the next one's work smaller: old sessions get their expiry before
 * the sessions purge reads it, and sessions take their tokens with them.
 */
const STEPS: readonly RetentionStep[] = [
  'session_expiry',
  'sessions',
  'refresh_tokens',
  'login_attempts',
  'rate_limits',
  'password_reset_tokens',
  'account_deletion_tokens',
  'email_codes',
  'mail_outbox',
  'security_events',
]

export interface PurgeResult {
  /** Rows deleted per table. */
  deleted: Record<RetentionTable, number>
  /** Sessions from before `sessions.expires_at` given their expiry. */
  expiryFilled: number
  /** Every step ran until nothing was left, and none failed. */
  complete: boolean
  /** The steps that failed; the others ran all the same. */
  failed: RetentionStep[]
}

/**
 * Deletes what no rule reads any more, a bounded batch at a time so no statement holds locks for long, within one
 * time budget shared by every step: each step in turn gets an equal share of what is left (a step that finishes early
 * leaves its time to the next), then the unfinished ones share what remains, round after round, so no table's
 * backlog starves the others. A step that fails is reported through `onFailure` and in `failed`, and the run goes on with the next one:
 * one table's trouble never stops the others' cleaning. A batch started before the deadline is finished; the next
 * run continues what this one left.
 *
 * A run at steady state is short and goes at full speed. Once a run has deleted for `fullSpeedMs` (a backlog: after
 * an outage, or a first run on a large table), it yields after each full batch for as long as that batch took, so
 * the database's writes come in bursts with gaps for the API's statements and its background writer. It still ends
 * within its budget: a pause never runs past the step's share.
 */
export async function purgeStaleRows(
  retention: RetentionRepository,
  {
    batchSize,
    budgetMs,
    now = () => performance.now(),
    sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
    fullSpeedMs = Number.POSITIVE_INFINITY,
    onFailure = () => {},
  }: {
    batchSize: number
    budgetMs: number
    now?: () => number
    sleep?: (ms: number) => Promise<void>
    /** How long the run deletes without pausing; unset, it never pauses. */
    fullSpeedMs?: number
    onFailure?: (step: RetentionStep, error: unknown) => void
  },
): Promise<PurgeResult> {
  const deadline = now() + budgetMs
  const counts = Object.fromEntries(STEPS.map((step) => [step, 0])) as Record<RetentionStep, number>
  const failed: RetentionStep[] = []
  const run = (step: RetentionStep) =>
    step === 'session_expiry' ? retention.fillSessionExpiry(batchSize) : retention.purge(step, batchSize)

  let working = 0
  let pending = [...STEPS]
  while (pending.length > 0 && now() < deadline) {
    const steps = pending
    pending = []
    for (const [index, step] of steps.entries()) {
      const until = now() + Math.max(0, deadline - now()) / (steps.length - index)
      let finished = false
      try {
        while (now() < until) {
          const started = now()
          const count = await run(step)
          counts[step] += count
          if (count < batchSize) {
            finished = true
            break
          }
          const took = now() - started
          working += took
          if (working > fullSpeedMs) await sleep(Math.min(took, Math.max(0, until - now())))
        }
      } catch (error) {
        failed.push(step)
        onFailure(step, error)
        continue
      }
      if (!finished) pending.push(step)
    }
  }
  const { session_expiry: expiryFilled, ...deleted } = counts
  return { deleted, expiryFilled, complete: pending.length === 0 && failed.length === 0, failed }
}
