/** The mail sender (`send-mail`): delivers one queued job's mail, by SES in AWS and SMTP locally. */
import { createMailJobRepository } from '#db/repositories/mail-jobs'
import { createMailer } from '#shared/domain/mail/mailer'
import { loadConfig } from '#shared/platform/config'
import { createMailTransport } from '#shared/platform/mail-transport'
import { once } from './memo.ts'
import { openDatabase, resolveDatabaseUrl, secretReaderFor } from './resources.ts'

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
        deletionUrl: config.ACCOUNT_DELETION_URL,
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
