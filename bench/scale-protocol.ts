/**
 * What `npm run bench:scale` (bench/scale.ts) and its two child processes share: the Lambda worker's
 * (scale-worker.ts) and the cleanup's (scale-cleanup.ts) messages, and the settings both sides read. No side effects,
 * so the parent can import it without starting either.
 */
import { lambdas } from '#functions/routes'

/** The password of every fixture account, and of every loaded one (their hash is a copy of one made with it). */
export const SCALE_PASSWORD = 'scale-bench-password-1'
/** The endpoints measured empty and loaded, by the names the report uses. */
export const SCALE_ENDPOINTS = ['login', 'refresh', 'me', 'sessions', 'password-reset'] as const
export type ScaleEndpoint = (typeof SCALE_ENDPOINTS)[number]
/** The endpoints called in turn during a cleanup: all but login, whose bcrypt would take most of the window's CPU. */
export const WINDOW_ENDPOINTS = ['me', 'refresh', 'sessions', 'password-reset'] as const

export interface ScaleSeries {
  endpoint: ScaleEndpoint
  floor: string
  /** Milliseconds per call, in call order. */
  endpointMs: number[]
  floorMs: number[]
  /** Statements (`pool.query` calls) per endpoint call, in call order; empty during a cleanup's window. */
  roundTrips: number[]
}

export type ScaleWorkerRequest =
  | { type: 'latency'; calls: number; loginCalls: number; warmup: number }
  | { type: 'window-start' }
  | { type: 'window-stop' }
  | { type: 'stop' }

export type ScaleWorkerReply =
  | { type: 'ready'; bcryptCost: number }
  | { type: 'latency'; series: ScaleSeries[] }
  | { type: 'window-started' }
  | { type: 'window'; series: ScaleSeries[]; ms: number }
  | { type: 'error'; message: string }

/** functions/cleanup.ts keeps this much of its timeout back for its last batch and its log line. */
const FUNCTION_MARGIN_MS = 5000
/** The budget one scheduled run has. */
export const CLEANUP_BUDGET_MS = lambdas.cleanup.timeoutSeconds * 1000 - FUNCTION_MARGIN_MS

/** The settings the cleanup function gets, from the local stack's: its own role's connection, and the proxy. */
export const cleanupEnvironment = (databaseEnv: Record<string, string | undefined>) => ({
  DATABASE_URL: databaseEnv.DATABASE_URL,
  DATABASE_CLEANUP_URL: databaseEnv.DATABASE_CLEANUP_URL,
  DATABASE_WS_PROXY: databaseEnv.DATABASE_WS_PROXY,
})

export type CleanupRequest = { type: 'run'; budgetMs: number } | { type: 'stop' }
export type CleanupReply =
  | {
      type: 'ran'
      ms: number
      /** Rows deleted per table; whether the run reached the end of everything stale within its budget. */
      deleted: Record<string, number>
      complete: boolean
      /** Why the run failed (its error's message, which names no SQL), when it did. */
      failure?: string
    }
  | { type: 'ready' }
  | { type: 'error'; message: string }
