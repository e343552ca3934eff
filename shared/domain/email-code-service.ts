import { createHash, randomInt, randomUUID } from 'node:crypto'
import { type PublicUser, toPublicUser } from './contract.ts'
import {
  EmailCodeLimitError,
  EmailTakenError,
  InvalidEmailCodeError,
  MailNotConfiguredError,
} from './errors.ts'
import { resetEmailKey } from './password-reset-service.ts'
import type { EmailCodeRepository, MailQueue } from './ports.ts'
import type { SessionPrincipal } from './principal.ts'
import type { RequestContext } from './users.ts'

/** How long a code stays valid after its request: 15 minutes, as the contract says. */
export const EMAIL_CODE_TTL_SECONDS = 15 * 60

/** A new code: 6 decimal digits, uniformly random. */
export const newEmailCode = (): string => String(randomInt(0, 1_000_000)).padStart(6, '0')

/**
 * The only form a code is stored in: the hex SHA-256 of `<user id>:<code>` (the user id keeps two accounts' equal
 * codes apart). `db/repositories/email-codes.ts` computes the same in SQL from the code a caller types.
 */
export const hashEmailCode = (userId: number, code: string): string =>
  createHash('sha256').update(`${userId}:${code}`, 'utf8').digest('hex')

export interface EmailCodeDependencies {
  codes: EmailCodeRepository
  /** Absent when the deployment sends no mail: a code request is then refused (503), never silently dropped. */
  mail: MailQueue | undefined
  /**
   * The current password checked as a login checks it (the failed-login limits and lock): the account when it is
   * the caller's, else `IncorrectPasswordError`. `auth-service`'s `checkPassword`.
   */
  checkOwnPassword(principal: SessionPrincipal, password: string, context: RequestContext): Promise<unknown>
}

export type EmailCodeService = ReturnType<typeof createEmailCodeService>

/**
 * Email verification and email change by 6-digit codes. A request does the same work for any address (one statement
 * that counts it and, for an account that should get one, queues a mail job; then the job handed to the mail sender
 * either way). The code itself is made by the mail sender (`mailer.ts`), which stores only its hash: the code exists
 * nowhere but in the mail, and never travels through a queue or sits in the outbox.
 */
export function createEmailCodeService({ codes, mail, checkOwnPassword }: EmailCodeDependencies) {
  return {
    async requestVerification(email: string, context: RequestContext): Promise<void> {
      if (!mail) throw new MailNotConfiguredError()
      const id = randomUUID()
      const { refusedForSeconds } = await codes.requestVerification(
        { id, email, emailKey: resetEmailKey(email) },
        context,
      )
      if (refusedForSeconds !== null) throw new EmailCodeLimitError(refusedForSeconds)
      // Whether or not a job was queued: the sender finds none for an unknown email, and the answer takes as long.
      await mail.notify(id)
    },

    async confirmVerification(email: string, code: string, context: RequestContext): Promise<PublicUser> {
      const user = await codes.confirmVerification(email, code, context)
      if (!user) throw new InvalidEmailCodeError()
      return toPublicUser(user)
    },

    /** Checks the password as a login does, then mails a code to the new address; nothing changes until it is confirmed. */
    async requestChange(
      principal: SessionPrincipal,
      newEmail: string,
      password: string,
      context: RequestContext,
    ): Promise<void> {
      if (!mail) throw new MailNotConfiguredError()
      await checkOwnPassword(principal, password, context)
      const id = randomUUID()
      const { refusedForSeconds } = await codes.requestChange(
        principal.user.id,
        { id, email: newEmail, emailKey: resetEmailKey(newEmail) },
        context,
      )
      if (refusedForSeconds !== null) throw new EmailCodeLimitError(refusedForSeconds)
      await mail.notify(id)
    },

    /** Moves the account to the code's address, verified; the old address is told, every other session ends. */
    async confirmChange(
      { user, sessionId }: SessionPrincipal,
      code: string,
      context: RequestContext,
    ): Promise<PublicUser> {
      const noticeId = randomUUID()
      const moved = await codes.confirmChange({ userId: user.id, sessionId, code, noticeId }, context)
      if (moved === null) throw new InvalidEmailCodeError()
      if (moved === 'taken') throw new EmailTakenError()
      // Moved whatever happens now: a notice that could not be handed over stays queued.
      await mail?.notify(noticeId).catch(() => undefined)
      return toPublicUser(moved)
    },
  }
}
