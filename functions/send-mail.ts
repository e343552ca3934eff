import { mailSender } from '#shared/app/mail-sender'
import { MailDeliveryError } from '#shared/domain/mail/mailer'
import { isUuid } from '#shared/domain/schemas'
import { logger } from '#shared/platform/logger'

/**
 * Sends the mail of one job (`{"job": "<uuid>"}`), invoked asynchronously by the functions that queue one (a reset
 * request, a confirmed reset, a password change). A failed send throws, so Lambda retries the event (twice), then
 * hands it to the failure destination (the stack's MailFailures queue); every attempt is audited and logged. Never
 * logs an address, a token or a link; a job done logs one line, the same whether or not the job named an account.
 */
export const handler = async (event: unknown) => {
  const job = (event as { job?: unknown } | null)?.job
  if (typeof job !== 'string' || !isUuid(job)) {
    logger.warn('mail event without a job id: ignored')
    return { outcome: 'invalid event' }
  }
  try {
    const outcome = await (await mailSender()).deliver(job)
    // The same line whatever the outcome: a reset request for an unknown email hands over a job that does not exist
    // ('no job'), one for an account a mail ('sent', 'superseded', …), and the log must not tell the two apart. The
    // outcome is in mail_outbox and in the audit trail, for the jobs that exist.
    logger.info('mail job done', { job })
    return { outcome }
  } catch (error) {
    // A delivery error's message is ours (the kind of failure); any other error's may carry SQL and its parameters:
    // its name only, in the log and in what Lambda hands to the failure destination.
    const reason =
      error instanceof MailDeliveryError ? error.message : error instanceof Error ? error.name : typeof error
    logger.error('mail job failed; Lambda retries it', { job, error: reason })
    throw new MailDeliveryError(reason)
  }
}
