/** Mail: the queue the API functions hand jobs to, and the sender (`send-mail`) that delivers them. */
import { createMailJobRepository } from '#db/repositories/mail-jobs'
import { MailQueueUnavailableError } from '#shared/domain/errors'
import { createMailer } from '#shared/domain/mail/mailer'
import type { MailQueue } from '#shared/domain/ports'
import { MAIL_QUEUE_TIMEOUT_MS } from '#shared/platform/budget'
import { type Config, loadConfig } from '#shared/platform/config'
import { createAsyncInvoker } from '#shared/platform/lambda-invoke'
import { logger } from '#shared/platform/logger'
import { createMailTransport } from '#shared/platform/mail-transport'
import { once } from './memo.ts'
import { functionRole, openDatabase, resolveDatabaseUrl, secretReaderFor } from './resources.ts'

/**
 * The mail sender's queue: an asynchronous invocation of `MAILER_FUNCTION_NAME` with the job's id, signed with the
 * function role's credentials. None when no mail sender is configured (the deployment sends no mail).
 */
export function mailQueue(config: Config): MailQueue | undefined {
  const functionName = config.MAILER_FUNCTION_NAME
  if (!functionName) return undefined
  const { region, credentials } = functionRole(config, 'MAILER_FUNCTION_NAME')
  const invoke = createAsyncInvoker({
    functionName,
    region,
    endpoint: config.AWS_ENDPOINT_URL_LAMBDA,
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

/** The mail sender's dependencies (the `send-mail` function), built once per container. */
export interface MailSender {
  deliver(jobId: string): Promise<string>
  close(): Promise<void>
}
export const mailSender = once(
  async (): Promise<MailSender> => {
    const config = loadConfig(process.env, ['database', 'mail'])
    const secrets = await secretReaderFor(config)
    // The transport first: one that cannot be made fails the build without a pool left open.
    const transport = await createMailTransport({
      smtpUrl: config.SMTP_URL,
      region: config.AWS_REGION,
      from: config.MAIL_FROM as string,
    })
    const database = openDatabase(config, await resolveDatabaseUrl(config, secrets), 2)
    const { deliver } = createMailer({
      jobs: createMailJobRepository(database.db),
      transport,
      settings: {
        productName: config.PRODUCT_NAME,
        resetUrl: config.PASSWORD_RESET_URL as string,
        resetTtlSeconds: config.PASSWORD_RESET_TTL_SECONDS,
      },
    })
    return {
      deliver,
      async close() {
        transport.close()
        await database.close()
      },
    }
  },
  (sender) => sender.close(),
)
