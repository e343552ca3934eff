import { describe, expect, it } from 'vitest'
import type { RetentionRepository, RetentionStep } from '#shared/domain/ports'
import { purgeStaleRows } from '#shared/domain/retention'

/**
 * A retention repository on a fake clock: each batch takes `batchMs`, and `backlog` full batches of sessions wait
 * before the last, short one. What the run sleeps is recorded and advances the same clock.
 */
function pacedRun(backlog: number, { batchMs = 100, fullSpeedMs = 250, budgetMs = 60_000 } = {}) {
  let clock = 0
  const sleeps: number[] = []
  const calls: RetentionStep[] = []
  let left = backlog
  const retention: RetentionRepository = {
    async purge(step, limit) {
      calls.push(step)
      clock += batchMs
      if (step !== 'sessions' || left === 0) return 0
      left -= 1
      return limit
    },
    async fillSessionExpiry() {
      clock += 1
      return 0
    },
  }
  const run = purgeStaleRows(retention, {
    batchSize: 10,
    budgetMs,
    fullSpeedMs,
    now: () => clock,
    sleep: async (ms) => {
      sleeps.push(ms)
      clock += ms
    },
  })
  return { run, sleeps, calls, clock: () => clock }
}

describe('the cleanup’s pace', () => {
  it('goes at full speed while a run is short, as at steady state', async () => {
    const { run, sleeps } = pacedRun(2)
    expect(await run).toMatchObject({ complete: true, deleted: { sessions: 20 } })
    expect(sleeps).toEqual([])
  })

  it('pauses after each full batch as long as it took, once the run has deleted for longer than its full speed', async () => {
    const { run, sleeps } = pacedRun(10)
    expect(await run).toMatchObject({ complete: true, deleted: { sessions: 100 } })
    // 100 ms a batch: the third batch takes the run past 250 ms of work, and every full batch from it on pauses.
    expect(sleeps).toEqual(Array(8).fill(100))
  })

  it('never pauses past its budget, and still reports what is left', async () => {
    const { run, sleeps, clock } = pacedRun(1000, { budgetMs: 2000 })
    const result = await run
    expect(result.complete).toBe(false)
    expect(clock()).toBeLessThanOrEqual(2000 + 100 * 8)
    expect(sleeps.every((ms) => ms <= 100)).toBe(true)
    // A paused backlog still leaves the other tables their share of the budget.
    expect(result.deleted.sessions).toBeGreaterThan(0)
  })
})
