/**
 * A function's init, and what it waits for. On demand, Lambda runs the init for a request that is already waiting:
 * the init starts the secrets' reading and the database's connection and returns, and they finish while the handler
 * runs (they overlap the rest of the cold start). With provisioned concurrency, the init runs long before any request
 * and Lambda freezes the environment as soon as it returns: work still in flight would be frozen mid-way, its timers
 * would have expired at the thaw, and the first request would pay a retry and a new connection, or get a 503. There,
 * the init waits for that work to end (`initialized`), within a bound.
 */
import { initializationType } from './config.ts'
import { logger } from './logger.ts'

/**
 * The longest a provisioned environment's init waits for its work: above the longest that work can take at any
 * setting (the secrets, 2 attempts of 3 s and a backoff; a connection, DATABASE_CONNECT_TIMEOUT_MS at most 30 s), and
 * under half of what Lambda allows a provisioned init (130 s, or the function's timeout if longer): the init never
 * fails for it, so Lambda never discards the environment and starts another.
 */
export const PROVISIONED_INIT_BOUND_MS = 60_000

/** Work started during the init and not ended yet: each settles (never rejects) and then leaves the set. */
const pending = new Set<Promise<void>>()

/**
 * Counts `work` among what a provisioned environment's init waits for: the dependencies a handler builds at init, a
 * connection the build opens. Its failure is not the init's: the first request builds again, as on demand.
 */
export function duringInit(work: Promise<unknown>): void {
  const settled = work.then(
    () => {},
    () => {},
  )
  pending.add(settled)
  void settled.then(() => pending.delete(settled))
}

/**
 * Ends the init: with provisioned concurrency, once the work `duringInit` counted (and any it started in turn) has
 * ended, or after `boundMs`; at once otherwise, so an on-demand cold start is not slowed. Awaited at the top level of
 * every function's bundle (`infra/bundling.ts`), after its module has started that work.
 */
export async function initialized(
  type: string | undefined = initializationType(),
  boundMs = PROVISIONED_INIT_BOUND_MS,
): Promise<void> {
  if (type !== 'provisioned-concurrency' || pending.size === 0) return
  const started = Date.now()
  let timer: ReturnType<typeof setTimeout> | undefined
  const bound = new Promise<'bound'>((resolve) => {
    timer = setTimeout(() => resolve('bound'), boundMs)
  })
  try {
    while (pending.size > 0)
      if ((await Promise.race([Promise.all(pending), bound])) === 'bound') {
        logger.warn('init ended with work still pending', { pending: pending.size, waitedMs: boundMs })
        return
      }
  } finally {
    clearTimeout(timer)
  }
  logger.info('provisioned init waited for its work', { waitedMs: Date.now() - started })
}
