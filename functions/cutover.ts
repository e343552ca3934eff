import type { Context } from 'aws-lambda'
import { cutoverFromEnvironment } from '#shared/app/operations'
import { logger } from '#shared/platform/logger'

/** Kept back from the function's remaining time for the copy itself, once the locks are had. */
const COPYING_MS = 120_000
/** The old backend's sessions hold the users table; a cutover waits this long at most for them to go. */
const MAX_LOCK_WAIT_MS = 60_000

/**
 * Carries the FastAPI backend's users over, once, invoked by an operator (the stack's CutoverDryRunCommand and
 * CutoverApplyCommand outputs). `{"apply": false}` answers the report and changes nothing; `{"apply": true,
 * "emailCollisions": …, "usernameCollisions": …, "invalidEmails": …, "inbound": …}` applies it in one transaction, or throws the
 * reason (a flag to choose, a database that is not the old one). The report goes to the invoker only: the log line
 * has counts, never an email.
 */
export const handler = async (event?: unknown, context?: Pick<Context, 'getRemainingTimeInMillis'>) => {
  const remaining = context?.getRemainingTimeInMillis()
  const lockWaitMs =
    remaining === undefined ? undefined : Math.max(1000, Math.min(MAX_LOCK_WAIT_MS, remaining - COPYING_MS))
  const report = await cutoverFromEnvironment(event, { lockWaitMs })
  logger.info(report.outcome === 'applied' ? 'cutover applied' : 'cutover dry run', {
    legacyRows: report.legacyRows,
    carried: report.conversion.carried,
    notCarried: report.conversion.notCarriedCount,
    deactivated: report.conversion.deactivatedCount,
    inbound: report.inbound.foreignKeys.length + report.inbound.views.length,
    undecided: report.undecided.length,
  })
  return report
}
