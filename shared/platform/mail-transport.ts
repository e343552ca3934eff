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

/**
 * A catcher on this machine (MailDev, smtp-server, aiosmtpd, …) often offers STARTTLS with a self-signed certificate,
 * which nodemailer takes up by default and would then refuse: on loopback the certificate is not checked. Any other
 * server's is.
 */
const isLoopback = (smtpUrl: string) => {
  const host = new URL(smtpUrl).hostname.replace(/^\[|\]$/g, '')
  return host === 'localhost' || host === '::1' || /^127\./.test(host)
}

export async function createMailTransport(settings: MailTransportSettings) {
  const { default: nodemailer } = await import('nodemailer')
  let transport: ReturnType<typeof nodemailer.createTransport>
  if (settings.smtpUrl) {
    transport = nodemailer.createTransport({
      url: settings.smtpUrl,
      ...SMTP_TIMEOUTS,
      ...(isLoopback(settings.smtpUrl) ? { tls: { rejectUnauthorized: false } } : {}),
    })
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
