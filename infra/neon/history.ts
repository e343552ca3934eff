/**
 * How far back the project keeps its history (Neon's "restore window", the API's `history_retention_seconds`): how
 * far back a branch can be made at a timestamp, or a branch restored (docs/deploying.md, Backups and restore). As
 * Neon's documentation stated it when read on 2026-12-07 (https://neon.com/docs/introduction/restore-window): the
 * Free plan keeps 6 hours (its default and its maximum, capped at 1 GB of history); Launch 1 day by default, up to 7
 * days; Scale 1 day by default, up to 30 days, the API's own maximum. Neon refuses more than the plan allows, and the
 * deploy fails with its reason. Update these numbers (and the date) from that page; nothing else states them.
 */
export const HISTORY_RETENTION = {
  /** The API's maximum: 30 days (the Scale plan's). */
  maxSeconds: 2_592_000,
  /** The Free plan's window, its default and its maximum: 6 hours. */
  freePlanSeconds: 21_600,
  /** The paid plans' default: 1 day. */
  paidPlanDefaultSeconds: 86_400,
} as const

/**
 * Why a history retention is refused (`given`: the value as the engineer wrote it); undefined for one the API takes
 * (the plan may still refuse it). 0 keeps no history: no point-in-time restore at all.
 */
export function historyRetentionProblem(
  seconds: number,
  given: string = String(seconds),
): string | undefined {
  if (Number.isInteger(seconds) && seconds >= 0 && seconds <= HISTORY_RETENTION.maxSeconds) return undefined
  return (
    `must be a whole number of seconds from 0 to ${HISTORY_RETENTION.maxSeconds} (30 days), not ${given}; ` +
    'the Free plan allows 21600 (6 hours), Launch up to 604800 (7 days), Scale up to 2592000 ' +
    '(https://neon.com/docs/introduction/restore-window)'
  )
}
