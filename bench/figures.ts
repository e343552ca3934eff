/**
 * The figures other tools read from a bench run (`npm run bench:cost` reads them), written as JSON beside the
 * Markdown report: per endpoint its warm latency and round trips, bcrypt's compare at each cost measured, and each
 * cold-start scenario's timings, all medians of the run.
 */
import { execFileSync } from 'node:child_process'
import type { BenchRun } from './report.ts'
import { median, quantile } from './stats.ts'

export interface BenchFigures {
  commit: string
  /** When the run ended (ISO 8601). */
  date: string
  machine: BenchRun['machine']
  /** The bcrypt cost the warm and cold figures were measured at. */
  bcryptCost: number
  /** By endpoint, as the report names them (`me`, `login`, `token (refresh_token grant)`, …). */
  warm: Record<string, { p50Ms: number; p99Ms: number; roundTrips: number }>
  /** One compare's median, by cost. */
  bcryptCompareMs: Record<string, number>
  /** By scenario: process start to first response (Lambda bills init and the first invoke), and its parts. */
  cold: Record<
    string,
    { firstResponseMs: number; importMs: number; firstRequestMs: number; secretCalls: number }
  >
}

export function benchFigures(run: BenchRun, commit: string, date = new Date()): BenchFigures {
  const warm: BenchFigures['warm'] = {}
  for (const item of run.series) {
    if (item.part) continue
    warm[item.endpoint] = {
      p50Ms: median(item.endpointMs),
      p99Ms: quantile(item.endpointMs, 0.99),
      roundTrips: median(item.roundTrips),
    }
  }
  const loginFloor = run.series.find((item) => item.endpoint === 'login')?.floorMs ?? []
  const cold: BenchFigures['cold'] = {}
  for (const scenario of run.coldStarts) {
    cold[scenario.name] = {
      firstResponseMs: scenario.firstResponse,
      importMs: scenario.import,
      firstRequestMs: scenario.firstRequest,
      secretCalls: scenario.secretCallsPerProcess ?? 0,
    }
  }
  return {
    commit,
    date: date.toISOString(),
    machine: run.machine,
    bcryptCost: run.settings.bcryptCost,
    warm,
    bcryptCompareMs: {
      [run.settings.bcryptCost]: median(loginFloor),
      12: median(run.defaultCostCompareMs),
    },
    cold,
  }
}

/** The commit measured (short hash), or `unknown` outside a git checkout. */
export function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: import.meta.dirname,
      encoding: 'utf8',
    }).trim()
  } catch {
    return 'unknown'
  }
}
