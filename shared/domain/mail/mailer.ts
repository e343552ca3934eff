import { randomUUID } from 'node:crypto'
import { EMAIL_CODE_TTL_SECONDS, hashEmailCode, newEmailCode } from '../email-code-service.ts'
import { hashResetToken, newResetToken, resetLink } from '../password-reset-service.ts'
import type { MailJobRepository, MailMessage, MailSkip, MailTransport } from '../ports.ts'
import accountDeleted from './account-deleted-mail.ts'
import accountDeletion from './account-deletion-mail.ts'
import emailChange from './email-change-mail.ts'
import emailChanged from './email-changed-mail.ts'
import emailVerification from './email-verification-mail.ts'
import passwordChanged from './password-changed-mail.ts'
import passwordReset from './reset-link-mail.ts'

export interface MailerSettings {
  productName: string
  /** The front-end's reset page, `{token}` standing for the token. */
  resetUrl: string
  resetTtlSeconds: number
  /**
   * The front-end's account-deletion page, `{token}` standing for the token (`ACCOUNT_DELETION_URL`); a deletion link
   * lives as long as a reset link. Without it no deletion job is ever queued.
   */
  deletionUrl?: string | undefined
}

/** A template's placeholders, filled; the first line (`Subject: …`) is the subject. */
export function renderMail(template: string, values: Record<string, string>): Omit<MailMessage, 'to'> {
  const missing = Object.keys(values).filter((name) => !template.includes(`{{${name}}}`))
  if (missing.length > 0) throw new Error(`mail template lost its placeholders: ${missing.join(', ')}`)
  // Checked on the template, before anything is filled in: a value (a product name) may hold braces of its own.
  const unknown = [...template.matchAll(/\{\{([^}]*)\}\}/g)].find(
    ([, name = '']) => !Object.hasOwn(values, name),
  )
  if (unknown) throw new Error(`mail template has an unknown placeholder: ${unknown[0]}`)
  const filled = template.replace(/\{\{(\w+)\}\}/g, (match, name: string) => values[name] ?? match)
  const [first = '', ...rest] = filled.split('\n')
  const subject = /^Subject:[ \t]*(\S.*)$/.exec(first)?.[1]
  if (!subject) throw new Error('a mail template starts with "Subject: …"')
  return { subject: subject.trim(), text: rest.join('\n').replace(/^\n+/, '') }
}

/** A time as the notice states it: `2026-11-30 05:12 UTC`. */
const utcMinute = (date: Date) => `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`

/** The failure of a send, kept for Lambda to retry (and, at the last attempt, to the failure destination). */
export class MailDeliveryError extends Error {
  override readonly name = 'MailDeliveryError'
}

/** A failure's kind, safe to store and log: nodemailer's code (`ECONNECTION`, `EAUTH`, …) or the error's name. */
function failureKind(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code === 'string' && /^[A-Z][A-Za-z_]{0,39}$/.test(code)) return code
  return error instanceof Error ? error.name.slice(0, 40) : typeof error
}

/** How long a delivery holds its job: longer than the send-mail function may run (30 s). */
const CLAIM_SECONDS = 60

/** What `deliver` did with a job. */
export type Delivery = 'sent' | 'no job' | 'already settled' | MailSkip

/**
 * Sends the mail of one job, off any request's path (the `send-mail` function). A reset job's token is made here, and
 * only its hash stored, so the token exists nowhere but in the mail. A job is settled once: a repeated delivery (Lambda
 * may deliver an event twice) sends nothing. A failed send is counted and audited, then thrown for a retry; a retried
 * reset job issues a fresh token, replacing the one of the failed attempt.
 */
export function createMailer({
  jobs,
  transport,
  settings,
}: {
  jobs: MailJobRepository
  transport: MailTransport
  settings: MailerSettings
}) {
  return {
    async deliver(jobId: string): Promise<Delivery> {
      const job = await jobs.load(jobId)
      if (!job) return 'no job'
      if (job.settled) return 'already settled'
      // One delivery at a time: another one of the same event (Lambda delivers at least once) waits for a retry,
      // by which time the job is settled, or its claim has lapsed because that delivery died.
      const delivery = randomUUID()
      if (!(await jobs.claim(job, CLAIM_SECONDS, delivery))) {
        throw new MailDeliveryError(`mail ${job.kind} is being sent by another delivery`)
      }
      if (!job.userActive) {
        await jobs.settle(job, 'inactive')
        return 'inactive'
      }
      let content: Omit<MailMessage, 'to'>
      if (job.kind === 'password_reset' || job.kind === 'account_deletion') {
        const page = job.kind === 'password_reset' ? settings.resetUrl : settings.deletionUrl
        // Queued only where the page is configured; a job left from before it was unset mails no dead link.
        if (page === undefined) throw new MailDeliveryError(`mail ${job.kind} has no page configured`)
        const token = newResetToken()
        const issued = await jobs.issueLinkToken(job, hashResetToken(token), settings.resetTtlSeconds)
        if (issued !== 'issued') {
          await jobs.settle(job, issued)
          return issued
        }
        content = renderMail(job.kind === 'password_reset' ? passwordReset : accountDeletion, {
          product: settings.productName,
          link: resetLink(page, token),
          minutes: String(Math.floor(settings.resetTtlSeconds / 60)),
        })
      } else if ((job.kind === 'email_verification' || job.kind === 'email_change') && job.userId !== null) {
        // As a reset token: the code is made here and only its hash stored, so it exists nowhere but in the mail.
        const code = newEmailCode()
        const purpose = job.kind === 'email_change' ? 'change' : 'verify'
        const issued = await jobs.issueEmailCode(
          job,
          purpose,
          hashEmailCode(job.userId, code),
          EMAIL_CODE_TTL_SECONDS,
        )
        if (issued !== 'issued') {
          await jobs.settle(job, issued)
          return issued
        }
        content = renderMail(purpose === 'change' ? emailChange : emailVerification, {
          product: settings.productName,
          code,
          minutes: String(Math.floor(EMAIL_CODE_TTL_SECONDS / 60)),
        })
      } else {
        const notice =
          job.kind === 'account_deleted'
            ? accountDeleted
            : job.kind === 'email_changed'
              ? emailChanged
              : passwordChanged
        content = renderMail(notice, {
          product: settings.productName,
          time: utcMinute(job.createdAt),
        })
      }
      try {
        await transport.send({ to: job.email, ...content })
      } catch (error) {
        const reason = failureKind(error)
        // Counted if the database lets it be; the send's failure is what Lambda must see either way.
        await jobs.recordFailure(job, delivery).catch(() => undefined)
        throw new MailDeliveryError(`mail ${job.kind} not sent (${reason})`, { cause: error })
      }
      // Sent: a failure to record it must not make Lambda send it again (with a new link, voiding the one sent). The
      // job stays claimed until its claim lapses; a later delivery of it would send again, which is the lesser harm.
      await jobs.settle(job, 'sent').catch(() => undefined)
      return 'sent'
    },
  }
}
