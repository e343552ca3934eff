import { median, quantile } from '../bench/stats.ts'
import type { MemoryUsage } from './server-process.ts'
import { OPERATIONS, type Operation, type Outcome } from './workload.ts'

export interface OperationFigures {
  operation: Operation
  requests: number
  /** The expected status with a body of the expected shape. */
  ok: number
  tooMany: number
  unavailable: number
  /** 5xx other than 503. */
  serverErrors: number
  /** No response: a refused or reset connection, or the client's timeout. */
  noResponse: number
  /** Any other status: a wrong answer. */
  unexpected: number
  perSecond: number
  /** Latencies of the expected answers. */
  p50: number
  p99: number
  max: number
}

/** Counts and latencies per operation, in the order `OPERATIONS` lists them, then a row for all of them. */
export function figuresByOperation(outcomes: readonly Outcome[], elapsedMs: number): OperationFigures[] {
  const rows: OperationFigures[] = []
  const figures = (operation: Operation, of: readonly Outcome[]): OperationFigures => {
    const latencies = of.filter((outcome) => outcome.ok).map((outcome) => outcome.ms)
    return {
      operation,
      requests: of.length,
      ok: latencies.length,
      tooMany: of.filter((outcome) => outcome.status === 429).length,
      unavailable: of.filter((outcome) => outcome.status === 503).length,
      serverErrors: of.filter((outcome) => outcome.status >= 500 && outcome.status !== 503).length,
      noResponse: of.filter((outcome) => outcome.status === 0).length,
      unexpected: of.filter((outcome) => !outcome.ok && isWrongAnswer(outcome)).length,
      perSecond: of.length / (elapsedMs / 1000),
      p50: median(latencies),
      p99: quantile(latencies, 0.99),
      max: latencies.length ? Math.max(...latencies) : Number.NaN,
    }
  }
  for (const operation of Object.keys(OPERATIONS) as Operation[]) {
    const of = outcomes.filter((outcome) => outcome.operation === operation)
    if (of.length) rows.push(figures(operation, of))
  }
  return rows
}

/** Not a limit (429), not an outage (5xx) and not a missing response: the service answered wrongly. */
export const isWrongAnswer = (outcome: Outcome) =>
  !outcome.ok && outcome.status !== 0 && outcome.status !== 429 && outcome.status < 500

export interface MemorySample extends MemoryUsage {
  /** Milliseconds since the run started. */
  atMs: number
  /** Taken right after a forced full GC: heapUsed is then the retained heap. */
  afterGc: boolean
}

export interface MemoryVerdict {
  rss: { start: number; end: number; max: number }
  heapUsed: { start: number; end: number; max: number }
  retained: { start: number; end: number; max: number }
  /** Retained heap at the end against the end of the warm-up: medians of the samples of a window each. */
  baseline: number | undefined
  final: number | undefined
  growth: number | undefined
  tolerance: number
  flat: boolean | undefined
  /** RSS over the same two windows (every sample), for the report. */
  rssBaseline: number | undefined
  rssFinal: number | undefined
}

/**
 * Whether the server's memory stayed flat: the retained heap (heapUsed after a full GC) over the last `windowMs`
 * of the run against the same over the `windowMs` after the warm-up, medians of each window, within `tolerance`.
 * RSS and heapUsed between collections are reported, not judged: they follow V8's sizing of the heap.
 */
export function memoryVerdict(
  samples: readonly MemorySample[],
  options: { warmupMs: number; endMs: number; windowMs: number; tolerance: number },
): MemoryVerdict {
  const range = (values: number[]) => ({
    start: values[0] ?? Number.NaN,
    end: values.at(-1) ?? Number.NaN,
    max: values.length ? Math.max(...values) : Number.NaN,
  })
  const collected = samples.filter((sample) => sample.afterGc)
  const { warmupMs, endMs, windowMs } = options
  const after = collected.filter((s) => s.atMs >= warmupMs && s.atMs < warmupMs + windowMs)
  const last = collected.filter((s) => s.atMs >= endMs - windowMs && s.atMs <= endMs + windowMs)
  const measurable = endMs - windowMs >= warmupMs + windowMs && after.length > 0 && last.length > 0
  const baseline = measurable ? median(after.map((s) => s.heapUsed)) : undefined
  const final = measurable ? median(last.map((s) => s.heapUsed)) : undefined
  const growth = baseline !== undefined && final !== undefined ? (final - baseline) / baseline : undefined
  const rssIn = (fromMs: number, toMs: number) => {
    const of = samples.filter((s) => s.atMs >= fromMs && s.atMs <= toMs).map((s) => s.rss)
    return measurable && of.length ? median(of) : undefined
  }
  return {
    rss: range(samples.map((s) => s.rss)),
    heapUsed: range(samples.map((s) => s.heapUsed)),
    retained: range(collected.map((s) => s.heapUsed)),
    baseline,
    final,
    growth,
    tolerance: options.tolerance,
    flat: growth === undefined ? undefined : growth <= options.tolerance,
    rssBaseline: rssIn(warmupMs, warmupMs + windowMs),
    rssFinal: rssIn(endMs - windowMs, endMs + windowMs),
  }
}

export interface FaultTimes {
  /** When the database was asked to stop, and when it had stopped. */
  stopRequestedMs: number
  stoppedMs: number
  /** When it was asked to start again, and when it accepted connections. */
  startRequestedMs: number
  startedMs: number
}

export interface FaultTimeline extends FaultTimes {
  first503Ms: number | undefined
  last503Ms: number | undefined
  /** The first expected answer after the restart, to any request; and to a request sent after it. */
  firstOkAnsweredAfterRestartMs: number | undefined
  firstOkAfterRestartMs: number | undefined
  unavailable: number
  unavailableWithoutRetryAfter: number
  /** 503s answered outside the outage and its recovery grace. */
  unavailableOutside: number
  /** 503 latencies, and the bound each had to meet. */
  unavailableP50: number
  unavailableMax: number
  overBound: { operation: Operation; ms: number; boundMs: number }[]
  /** Expected answers to requests sent after the grace. */
  okAfterGrace: number
}

/**
 * The outage as the clients saw it. A 503 is allowed from the stop request until `graceMs` after the database is
 * back, and must come within the connect timeout plus what the operation takes in normal service (its p99 outside
 * the outage and its grace): a refusal may wait its turn for bcrypt, never for a hang.
 */
export function faultTimeline(
  outcomes: readonly Outcome[],
  times: FaultTimes,
  options: { graceMs: number; connectTimeoutMs: number },
): FaultTimeline {
  const answeredAt = (outcome: Outcome) => outcome.startedMs + outcome.ms
  const unavailable = outcomes.filter((outcome) => outcome.status === 503)
  const allowedUntil = times.startedMs + options.graceMs
  const inService = outcomes.filter(
    (o) => o.ok && (answeredAt(o) < times.stopRequestedMs || o.startedMs > allowedUntil),
  )
  const overallP99 = quantile(
    inService.map((o) => o.ms),
    0.99,
  )
  const normalP99 = new Map<Operation, number>()
  for (const operation of Object.keys(OPERATIONS) as Operation[]) {
    const of = inService.filter((o) => o.operation === operation).map((o) => o.ms)
    normalP99.set(operation, of.length ? quantile(of, 0.99) : overallP99)
  }
  const answered = unavailable.map(answeredAt)
  const okAfterRestart = outcomes
    .filter((o) => o.ok && o.startedMs >= times.startedMs)
    .map(answeredAt)
    .sort((a, b) => a - b)
  const overBound: FaultTimeline['overBound'] = []
  for (const outcome of unavailable) {
    const boundMs = options.connectTimeoutMs + (normalP99.get(outcome.operation) ?? 0)
    if (!(outcome.ms <= boundMs)) overBound.push({ operation: outcome.operation, ms: outcome.ms, boundMs })
  }
  return {
    ...times,
    first503Ms: answered.length ? Math.min(...answered) : undefined,
    last503Ms: answered.length ? Math.max(...answered) : undefined,
    firstOkAnsweredAfterRestartMs: outcomes
      .filter((o) => o.ok && answeredAt(o) >= times.startedMs)
      .map(answeredAt)
      .sort((a, b) => a - b)[0],
    firstOkAfterRestartMs: okAfterRestart[0],
    unavailable: unavailable.length,
    unavailableWithoutRetryAfter: unavailable.filter((o) => !o.retryAfter).length,
    unavailableOutside: unavailable.filter(
      (o) => answeredAt(o) < times.stopRequestedMs || answeredAt(o) > allowedUntil,
    ).length,
    unavailableP50: median(unavailable.map((o) => o.ms)),
    unavailableMax: unavailable.length ? Math.max(...unavailable.map((o) => o.ms)) : Number.NaN,
    overBound,
    okAfterGrace: outcomes.filter((o) => o.ok && o.startedMs >= allowedUntil).length,
  }
}

/** Answers per time slice: what the clients saw second by second, for the fault run's timeline. */
export function slices(outcomes: readonly Outcome[], sliceMs: number, endMs: number) {
  const rows: { fromMs: number; ok: number; unavailable: number; other: number }[] = []
  for (let fromMs = 0; fromMs < endMs; fromMs += sliceMs)
    rows.push({ fromMs, ok: 0, unavailable: 0, other: 0 })
  for (const outcome of outcomes) {
    const row = rows[Math.min(rows.length - 1, Math.floor((outcome.startedMs + outcome.ms) / sliceMs))]
    if (!row) continue
    if (outcome.ok) row.ok++
    else if (outcome.status === 503) row.unavailable++
    else row.other++
  }
  return rows
}

export interface AbuseFigures {
  floodAttempts: number
  floodCreated: number
  floodRefused: number
  guesses: number
  /** Guesses whose password was looked at and found wrong: the guessing budget the lock allowed. */
  guessesWrong: number
  guessesRefused: number
  /** 401s to guesses sent after a 429 had been answered: the lock was committed, so these must not exist. */
  guessesWrongAfterLock: number
  rightPasswordWhileLocked: Outcome | undefined
}

/** What the abusers met: how many accounts one address made, how many guesses one account took before it locked. */
export function abuseFigures(outcomes: readonly Outcome[]): AbuseFigures {
  const flood = outcomes.filter((o) => o.operation === 'register, flood from one address')
  const guesses = outcomes.filter((o) => o.operation === 'login, guessing one password')
  const lockSeen = Math.min(...guesses.filter((o) => o.status === 429).map((o) => o.startedMs + o.ms))
  return {
    floodAttempts: flood.length,
    floodCreated: flood.filter((o) => o.status === 201).length,
    floodRefused: flood.filter((o) => o.status === 429).length,
    guesses: guesses.length,
    guessesWrong: guesses.filter((o) => o.status === 401).length,
    guessesRefused: guesses.filter((o) => o.status === 429).length,
    guessesWrongAfterLock: guesses.filter((o) => o.status === 401 && o.startedMs > lockSeen).length,
    rightPasswordWhileLocked: outcomes.find((o) => o.operation === 'login, locked account, right password'),
  }
}
