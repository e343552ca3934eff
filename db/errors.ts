import { DatabaseUnavailableError } from '#shared/domain/errors'

/** SQLSTATE classes that mean "the database cannot serve us now", not "this statement is wrong". */
const UNAVAILABLE_SQLSTATE = /^(08|53|57P)/
/**
 * A statement the server gave up on, and rolled back, on a connection that stays usable: cancelled by
 * `statement_timeout` (57014), no lock within `lock_timeout` (55P03), a serialization failure or a deadlock
 * (40001, 40P01). Answered as unavailable (503 with Retry-After); the last two are worth one retry.
 */
const GAVE_UP_SQLSTATE = /^(57014|55P03|40001|40P01)$/
const RETRYABLE_SQLSTATE = /^(40001|40P01)$/
const TRANSPORT_MESSAGE =
  /connect|connection|terminated|timeout|timed out|websocket|socket|ECONNREFUSED|ECONNRESET|EPIPE|ENOTFOUND|EAI_AGAIN|closed/i

interface DriverError {
  code?: unknown
  message?: unknown
  constraint?: unknown
}

const SQLSTATE = /^[0-9A-Z]{5}$/

/**
 * The driver's own error, unwrapped from drizzle's `DrizzleQueryError` (which carries the SQL and parameters) or from
 * our own `DatabaseUnavailableError` (whose `code` is the domain's, not a SQLSTATE).
 */
function driverError(error: unknown): DriverError | undefined {
  let current: unknown = error
  for (let depth = 0; depth < 5 && current && typeof current === 'object'; depth++) {
    const candidate = current as DriverError & { cause?: unknown }
    if (typeof candidate.code === 'string' && SQLSTATE.test(candidate.code)) return candidate
    current = candidate.cause
  }
  return typeof error === 'object' && error !== null ? (error as DriverError) : undefined
}

/** The five-character SQLSTATE of a database error, wherever drizzle wrapped it; undefined for other errors. */
export const sqlState = (error: unknown): string | undefined => {
  const code = driverError(error)?.code
  return typeof code === 'string' && SQLSTATE.test(code) ? code : undefined
}

/** The constraint (or unique index) a violation names, wherever drizzle wrapped the driver's error. */
export const violatedConstraint = (error: unknown): string | undefined => {
  const constraint = driverError(error)?.constraint
  return typeof constraint === 'string' ? constraint : undefined
}

/** An error the server answered for one statement (it has a SQLSTATE) that leaves the connection usable. */
export function isStatementError(error: unknown): boolean {
  const state = sqlState(error)
  return state !== undefined && !UNAVAILABLE_SQLSTATE.test(state)
}

/** A statement the server rolled back for a reason that may not recur (a serialization failure, a deadlock). */
export const isRetryableStatementError = (error: unknown): boolean =>
  RETRYABLE_SQLSTATE.test(sqlState(error) ?? '')

/** True when the error says the database could not be reached or went away, rather than that a query failed. */
export function isUnavailable(error: unknown): boolean {
  if (error instanceof DatabaseUnavailableError) return true
  const state = sqlState(error)
  if (state) return UNAVAILABLE_SQLSTATE.test(state) || GAVE_UP_SQLSTATE.test(state)
  let current: unknown = error
  for (let depth = 0; depth < 5 && current; depth++) {
    if (typeof current === 'object') {
      if (current instanceof DatabaseUnavailableError) return true
      const { message, code, cause } = current as { message?: unknown; code?: unknown; cause?: unknown }
      if (typeof message === 'string' && TRANSPORT_MESSAGE.test(message)) return true
      if (typeof code === 'string' && TRANSPORT_MESSAGE.test(code)) return true
      // The WebSocket's ErrorEvent carries no message of its own.
      if ((current as { type?: unknown }).type === 'error') return true
      current = cause
    } else return false
  }
  return false
}

/** Rethrows connection failures as `DatabaseUnavailableError`; every other error passes through unchanged. */
export function rethrowUnavailable(error: unknown): never {
  if (isUnavailable(error)) throw new DatabaseUnavailableError({ cause: error })
  throw error
}
