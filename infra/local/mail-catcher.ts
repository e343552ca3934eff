/**
 * A real SMTP server that keeps every mail and shows it on a web page (MailDev), for `npm start` and the tests: the
 * mail the service sends locally is read there, exactly as it left the mail sender.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MailDev } from 'maildev'

/** A caught mail, as MailDev's API lists it (the fields the service's mail has). */
export interface CaughtMail {
  id: string
  subject: string
  text: string
  from: { address: string; name: string }[]
  to: { address: string; name: string }[]
  headers: Record<string, string>
}

export interface MailCatcher {
  /** `smtp://127.0.0.1:port`: the mail sender's SMTP_URL. */
  smtpUrl: string
  /** The page that shows the mail (and its API under `/api`). */
  webUrl: string
  /** Every mail caught so far, oldest first; only those to `to` when given. */
  messages(to?: string): Promise<CaughtMail[]>
  /** The first mail to `to` that `matches`, waiting for it up to `timeoutMs`. */
  waitFor(to: string, matches?: (mail: CaughtMail) => boolean, timeoutMs?: number): Promise<CaughtMail>
  stop(): Promise<void>
}

export interface MailCatcherOptions {
  /** Port 0 (the default) takes a free one. */
  smtpPort?: number
  webPort?: number
  host?: string
  /** Where the mail is kept; a temporary folder, removed by `stop`, by default. */
  mailDir?: string
}

export async function startMailCatcher(options: MailCatcherOptions = {}): Promise<MailCatcher> {
  const host = options.host ?? '127.0.0.1'
  const temporary = options.mailDir ? undefined : await mkdtemp(join(tmpdir(), 'papa-auth-mail-'))
  const maildev = new MailDev({
    smtp: options.smtpPort ?? 0,
    web: options.webPort ?? 0,
    ip: host,
    webIp: host,
    silent: true,
    mailDirectory: options.mailDir ?? temporary,
  })
  // MailDev announces its API on the console itself; this module says where things are instead.
  const info = console.info
  console.info = () => {}
  let servers: Awaited<ReturnType<MailDev['start']>>
  try {
    servers = await maildev.start()
  } catch (error) {
    // A port taken: whatever did start (the SMTP server, say) is stopped again.
    await maildev.stop().catch(() => {})
    if (temporary) await rm(temporary, { recursive: true, force: true })
    throw error
  } finally {
    console.info = info
  }
  const smtpPort = servers.smtp.getAddress()?.port
  const webPort = servers.api?.getAddress()?.port
  if (!smtpPort || !webPort) throw new Error('MailDev started without its ports')
  const webUrl = `http://${host}:${webPort}`

  const messages = async (to?: string) => {
    const response = await fetch(`${webUrl}/api/email`)
    if (!response.ok) throw new Error(`MailDev answered ${response.status}`)
    const all = (await response.json()) as CaughtMail[]
    const wanted = to?.toLowerCase()
    return wanted ? all.filter((mail) => mail.to.some((r) => r.address.toLowerCase() === wanted)) : all
  }

  return {
    smtpUrl: `smtp://${host}:${smtpPort}`,
    webUrl,
    messages,
    async waitFor(to, matches = () => true, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const found = (await messages(to)).find(matches)
        if (found) return found
        if (Date.now() > deadline) throw new Error(`no mail to ${to} within ${timeoutMs} ms`)
        await new Promise((done) => setTimeout(done, 50))
      }
    },
    async stop() {
      await maildev.stop()
      if (temporary) await rm(temporary, { recursive: true, force: true })
    },
  }
}
