/**
 * The cleanup function's work for `npm run bench:scale`, in a process of its own as the function runs in a container
 * of its own: the one place the bench calls the retention code, so a change to its entry point (its settings, a role
 * of its own, what it reports) is met here alone. Each `run` is one scheduled invocation: `cleanupFromEnvironment`
 * with the budget the function gives it (its timeout less its margin), timed from call to return.
 */
import { cleanupFromEnvironment } from '#shared/app/operations'
import type { CleanupReply, CleanupRequest } from './scale-protocol.ts'

process.on('message', async (request: CleanupRequest) => {
  if (request.type === 'stop') process.exit(0)
  const started = performance.now()
  try {
    const { deleted, complete, failed } = await cleanupFromEnvironment(request.budgetMs)
    process.send?.({
      type: 'ran',
      ms: performance.now() - started,
      deleted,
      complete,
      ...(failed.length > 0 ? { failure: `tables failed: ${failed.join(', ')}` } : {}),
    } satisfies CleanupReply)
  } catch (error) {
    process.send?.({
      type: 'ran',
      ms: performance.now() - started,
      deleted: {},
      complete: false,
      failure: error instanceof Error ? error.message : String(error),
    } satisfies CleanupReply)
  }
})
process.send?.({ type: 'ready' } satisfies CleanupReply)
