import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { InvalidResetTokenError, MailNotConfiguredError, PasswordResetLimitError } from './errors.ts'
import type { PasswordHasher } from './passwords.ts'
import type { MailQueue, PasswordResetRepository } from './ports.ts'
import type { PasswordResetConfirmBody } from './schemas.ts'
import type { RequestContext } from './users.ts'

/** 256 random bits, as the contract requires of a reset link. */
const RESET_TOKEN_BYTES = 32

/** A new reset token: 256 random bits, base64url (43 characters, safe in a URL as it is). */
export const newResetToken = (): string => randomBytes(RESET_TOKEN_BYTES).toString('base64url')

/** The only form a reset token is stored in. */
export const hashResetToken = (token: string): string =>
  createHash('sha256').update(token, 'utf8').digest('base64url')

/** The key of an email's reset limit: its SHA-256, so no address of an unknown account sits in the counters. */
export const resetEmailKey = (email: string): string =>
  createHash('sha256').update(email, 'utf8').digest('hex')

/**
 * The link a reset mail carries: the configured front-end URL with the token in place of `{token}`, or, when the URL
 * has no `{token}`, added as its `token` query parameter (before any fragment).
 */
export function resetLink(urlTemplate: string, token: string): string {
  if (urlTemplate.includes('{token}')) return urlTemplate.replace('{token}', encodeURIComponent(token))
  const url = new URL(urlTemplate)
  url.searchParams.set('token', token)
  return url.toString()
}

export interface PasswordResetDependencies {
  resets: PasswordResetRepository
  passwords: PasswordHasher
  /** Absent when the deployment sends no mail: a reset request is then refused (503), never silently dropped. */
  mail: MailQueue | undefined
}

export type PasswordResetService = ReturnType<typeof createPasswordResetService>

/**
 * Forgotten passwords. A request does the same work whether or not the email has an account (one statement that
 * counts it and, for an active account, queues a mail job; then the job handed to the mail sender either way), so
 * neither its answer nor its time says which; the link itself is made by the mail sender (`mailer.ts`), off the
 * request's path, so no token ever travels through a queue.
 */
export function createPasswordResetService({ resets, passwords, mail }: PasswordResetDependencies) {
  return {
    async request(email: string, context: RequestContext): Promise<void> {
      if (!mail) throw new MailNotConfiguredError()
      const id = randomUUID()
      const { refusedForSeconds } = await resets.request(
        { id, email, emailKey: resetEmailKey(email) },
        context,
      )
      if (refusedForSeconds !== null) throw new PasswordResetLimitError(refusedForSeconds)
      // Whether or not a job was queued: the sender finds none for an unknown email, and the answer takes as long.
      await mail.notify(id)
    },

    /**
     * Sets the new password through a live link: the link is used up, every session revoked, the failed-login count
     * cleared and a notice queued, at once. A used, voided, expired or unknown token gets one answer.
     */
    async confirm({ token, new_password }: PasswordResetConfirmBody, context: RequestContext): Promise<void> {
      const tokenHash = hashResetToken(token)
      // Checked first, so a dead link costs no bcrypt; checked again, atomically, when it is used up.
      if (!(await resets.isLive(tokenHash))) throw new InvalidResetTokenError()
      const noticeId = randomUUID()
      const completed = await resets.complete(
        { id: randomUUID(), tokenHash, hash: await passwords.hash(new_password), noticeId },
        context,
      )
      if (!completed) throw new InvalidResetTokenError()
      // The password is changed whatever happens now; a notice that could not be queued stays in the outbox, and
      // the queue has logged why.
      await mail?.notify(noticeId).catch(() => undefined)
    },
  }
}
