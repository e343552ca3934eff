/**
 * The one wrapper around nodemailer: SMTP when `smtpUrl` is given (the local catcher, or any relay), else Amazon SES
 * (its v2 API, through nodemailer's SES transport and the SDK's client). Loaded only by the function that sends mail.
 */
export interface MailTransportSettings {
  /** `smtp://host:port` (or `smtps://`); without it, SES in `region`. */
  smtpUrl?: string | undefined
  region?: string | undefined
  /** The sender of every mail. */
  from: string
}

/** An SMTP server that does not answer is given up on within these, so Lambda retries the send. */
const SMTP_TIMEOUTS = { connectionTimeout: 5000, greetingTimeout: 5000, socketTimeout: 10_000 }

export async function createMailTransport(settings: MailTransportSettings) {
  const { default: nodemailer } = await import('nodemailer')
  let transport: ReturnType<typeof nodemailer.createTransport>
  if (settings.smtpUrl) {
    transport = nodemailer.createTransport({ url: settings.smtpUrl, ...SMTP_TIMEOUTS })
  } else {
    if (!settings.region) throw new Error('SMTP_URL, or AWS_REGION for Amazon SES, is required')
    const { SESv2Client, SendEmailCommand } = await import('@aws-sdk/client-sesv2')
    transport = nodemailer.createTransport({
      SES: { sesClient: new SESv2Client({ region: settings.region, maxAttempts: 3 }), SendEmailCommand },
    })
  }
  return {
    async send(message: { to: string; subject: string; text: string }) {
      await transport.sendMail({ from: settings.from, ...message })
    },
    close: () => transport.close(),
  }
}
