import { describe, expect, it } from 'vitest'
import {
  abuseFigures,
  faultTimeline,
  figuresByOperation,
  type MemorySample,
  memoryVerdict,
} from '../../load/analysis.ts'
import type { Outcome } from '../../load/workload.ts'

const outcome = (fields: Partial<Outcome>): Outcome => ({
  operation: 'me',
  status: 200,
  startedMs: 0,
  ms: 10,
  retryAfter: false,
  ok: true,
  ...fields,
})
const failed = (status: number, fields: Partial<Outcome> = {}) => outcome({ status, ok: false, ...fields })

describe('the load report’s figures', () => {
  it('tells limits, outages, missing answers and wrong answers apart', () => {
    const [me] = figuresByOperation(
      [
        outcome({ ms: 10 }),
        outcome({ ms: 30 }),
        failed(429, { retryAfter: true }),
        failed(503, { retryAfter: true }),
        failed(500),
        failed(0),
        failed(401),
      ],
      1000,
    )
    expect(me).toMatchObject({
      operation: 'me',
      requests: 7,
      ok: 2,
      tooMany: 1,
      unavailable: 1,
      serverErrors: 1,
      noResponse: 1,
      unexpected: 1,
      perSecond: 7,
      p50: 10,
      p99: 30,
    })
  })
})

const samples = (heapAt: (atMs: number) => number): MemorySample[] =>
  Array.from({ length: 13 }, (_, i) => ({
    atMs: i * 5000,
    afterGc: true,
    heapUsed: heapAt(i * 5000),
    heapTotal: 0,
    rss: 100,
    external: 0,
  }))
const window = { warmupMs: 20_000, endMs: 60_000, windowMs: 15_000, tolerance: 0.1 }

describe('the memory verdict', () => {
  it('is flat when the retained heap after the warm-up stays within the tolerance', () => {
    const verdict = memoryVerdict(
      samples((atMs) => (atMs < 20_000 ? 10 : 20 + (atMs % 10_000 === 0 ? 1 : 0))),
      window,
    )
    expect(verdict.flat).toBe(true)
  })

  it('is not flat when the retained heap keeps growing', () => {
    const verdict = memoryVerdict(
      samples((atMs) => 20 + atMs / 5000),
      window,
    )
    expect(verdict.flat).toBe(false)
    expect(verdict.growth).toBeGreaterThan(0.1)
  })

  it('judges nothing when the run is too short for two windows after the warm-up', () => {
    expect(
      memoryVerdict(
        samples(() => 20),
        { ...window, endMs: 40_000 },
      ).flat,
    ).toBeUndefined()
  })
})

describe('the fault timeline', () => {
  const times = { stopRequestedMs: 10_000, stoppedMs: 10_500, startRequestedMs: 20_000, startedMs: 21_000 }
  const options = { graceMs: 5000, connectTimeoutMs: 3000 }

  it('allows 503s with Retry-After from the stop until the grace after the restart, within the bound', () => {
    const timeline = faultTimeline(
      [
        outcome({ startedMs: 1000, ms: 100 }),
        failed(503, { startedMs: 10_200, ms: 50, retryAfter: true }),
        failed(503, { startedMs: 22_000, ms: 50, retryAfter: true }),
        // Sent before the restart, answered after it.
        outcome({ startedMs: 20_500, ms: 1000 }),
        outcome({ startedMs: 23_000, ms: 100 }),
        outcome({ startedMs: 30_000, ms: 100 }),
      ],
      times,
      options,
    )
    expect(timeline).toMatchObject({
      unavailable: 2,
      unavailableWithoutRetryAfter: 0,
      unavailableOutside: 0,
      overBound: [],
      first503Ms: 10_250,
      last503Ms: 22_050,
      firstOkAnsweredAfterRestartMs: 21_500,
      firstOkAfterRestartMs: 23_100,
      okAfterGrace: 1,
    })
  })

  it('flags a 503 without Retry-After, one after the grace, and one slower than the bound', () => {
    const timeline = faultTimeline(
      [
        outcome({ startedMs: 1000, ms: 100 }),
        failed(503, { startedMs: 11_000, ms: 50 }),
        failed(503, { startedMs: 12_000, ms: 3200, retryAfter: true }),
        failed(503, { startedMs: 27_000, ms: 50, retryAfter: true }),
      ],
      times,
      options,
    )
    expect(timeline.unavailableWithoutRetryAfter).toBe(1)
    expect(timeline.unavailableOutside).toBe(1)
    expect(timeline.overBound).toEqual([{ operation: 'me', ms: 3200, boundMs: 3100 }])
  })
})

describe('the abuse figures', () => {
  const guess = (status: number, startedMs: number, ms: number) =>
    outcome({ operation: 'login, guessing one password', status, startedMs, ms, ok: true })

  it('counts a 401 to a guess sent after a 429 was answered, not one that was already in flight', () => {
    const figures = abuseFigures([
      guess(401, 0, 100),
      // In flight when the lock engaged: answered after the first 429, but sent before it.
      guess(401, 50, 400),
      guess(429, 100, 100),
      guess(401, 250, 100),
      outcome({ operation: 'register, flood from one address', status: 201 }),
      outcome({ operation: 'register, flood from one address', status: 429 }),
    ])
    expect(figures).toMatchObject({
      guesses: 4,
      guessesWrong: 3,
      guessesRefused: 1,
      guessesWrongAfterLock: 1,
      floodAttempts: 2,
      floodCreated: 1,
      floodRefused: 1,
    })
  })
})
