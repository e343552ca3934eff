/** The queue the API functions hand mail jobs to: an asynchronous invocation of the mail sender (`send-mail`). */
import { MailQueueUnavailableError } from '#shared/domain/errors'
import type { MailQueue } from '#shared/domain/ports'
import { MAIL_QUEUE_TIMEOUT_MS } from '#shared/platform/budget'
import type { Config } from '#shared/platform/config'
import { createAsyncInvoker } from '#shared/platform/lambda-invoke'
import { logger } from '#shared/platform/logger'
import { functionRole } from './resources.ts'

/**
 * The mail sender's queue: an asynchronous invocation of `MAILER_FUNCTION_NAME` with the job's id, signed with the
 * function role's credentials. None when no mail sender is configured (the deployment sends no mail).
 */
export function mailQueue(config: Config): MailQueue | undefined {
  const functionName = config.MAILER_FUNCTION_NAME
  if (!functionName) return undefined
  const { region, credentials, fips } = functionRole(config, 'MAILER_FUNCTION_NAME')
  const invoke = createAsyncInvoker({
    functionName,
    region,
    endpoint: config.AWS_ENDPOINT_URL_LAMBDA,
    fips,
    credentials,
    timeoutMs: MAIL_QUEUE_TIMEOUT_MS,
  })
  return {
    async notify(jobId) {
      try {
        await invoke({ job: jobId })
      } catch (error) {
        // The job stays in mail_outbox, unsettled: an operator finds it there (docs/deploying.md).
        logger.error('mail job not handed to the mail sender', {
          job: jobId,
          error: error instanceof Error ? error.name : typeof error,
        })
        throw new MailQueueUnavailableError({ cause: error })
      }
    },
  }
}
