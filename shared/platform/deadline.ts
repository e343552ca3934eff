import { AsyncLocalStorage } from 'node:async_hooks'

/**
 * The current invocation's deadline (epoch milliseconds), set by the HTTP wrapper from Lambda's remaining time and
 * read by the database client, so that no statement is sent that the server could still be running when the function
 * has to answer: a write that commits after a 503 would be a write the caller was told did not happen.
 */
const deadlines = new AsyncLocalStorage<number>()

/** Kept back from the invocation's remaining time: the answer, whatever it is, goes out within it. */
export const ANSWER_MARGIN_MS = 250

/** Runs `work` with a deadline of `deadline` (epoch milliseconds). */
export const withDeadline = <T>(deadline: number, work: () => Promise<T>): Promise<T> =>
  deadlines.run(deadline, work)

/** Milliseconds left before the current deadline; `Infinity` outside of one (operator functions, tests). */
export function remainingMs(): number {
  const deadline = deadlines.getStore()
  return deadline === undefined ? Number.POSITIVE_INFINITY : deadline - Date.now()
}
