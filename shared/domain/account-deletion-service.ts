import { randomUUID } from 'node:crypto'
import {
  AccountDeletionLimitError,
  InvalidDeletionTokenError,
  InvalidTokenError,
  LastSuperuserError,
  MailNotConfiguredError,
} from './errors.ts'
import { hashResetToken, resetEmailKey } from './password-reset-service.ts'
import type { ErasureRepository, MailQueue } from './ports.ts'
import type { SessionPrincipal } from './principal.ts'
import type { RequestContext, UserRecord } from './users.ts'

export interface AccountDeletionDependencies {
  erasure: ErasureRepository
  /**
   * The current password checked as a login checks it (the failed-login limits and the exact lock): the account as
   * it was checked when the password is the caller's, else `IncorrectPasswordError`. `auth-service`'s.
   */
  checkOwnPassword(
    principal: SessionPrincipal,
    password: string,
    context: RequestContext,
  ): Promise<UserRecord>
  /** Absent when the deployment sends no mail: the notice is then not sent, and links cannot be requested. */
  mail: MailQueue | undefined
  /** Whether a deletion link can be mailed: mail configured and `ACCOUNT_DELETION_URL` set. */
  linksEnabled: boolean
}

export type AccountDeletionService = ReturnType<typeof createAccountDeletionService>

/**
 * A user leaving: from the app (`DELETE /users/me`, the password checked) or from a mailed link (a web page, or a
 * user who cannot sign in any more). Both end in the one erasure an operator's deletion uses too
 * (`ErasureRepository`): the account's row deleted, everything of it void at once, a notice to the address it had.
 */
export function createAccountDeletionService({
  erasure,
  checkOwnPassword,
  mail,
  linksEnabled,
}: AccountDeletionDependencies) {
  /** The notice goes if it can: the account is gone either way, and the queue has logged why not. */
  const notify = (noticeId: string) => mail?.notify(noticeId).catch(() => undefined)

  return {
    /**
     * Deletes the caller's own account once the current password checks out. Erased only while that password and the
     * request's session still hold (read under the account's lock): a password change, reset or "end all sessions"
     * that won the race leaves the account in place, and the caller, whose session ended, is answered 401.
     */
    async deleteOwn(principal: SessionPrincipal, password: string, context: RequestContext): Promise<void> {
      const checked = await checkOwnPassword(principal, password, context)
      const noticeId = randomUUID()
      const outcome = await erasure.erase(
        {
          userId: checked.id,
          actorId: null,
          noticeId,
          notify: mail !== undefined,
          checked: { sessionId: principal.sessionId, credentialVersion: checked.credentialVersion },
        },
        context,
      )
      if (outcome === 'last_superuser') throw new LastSuperuserError()
      // Gone meanwhile (an operator's deletion, a mailed link), or its session or password changed: either way the
      // access token no longer stands for a live session of an account.
      if (outcome !== 'erased') throw new InvalidTokenError()
      await notify(noticeId)
    },

    /** Mails a single-use deletion link to an active account, doing the same work for any address (as a reset). */
    async request(email: string, context: RequestContext): Promise<void> {
      if (!mail || !linksEnabled) throw new MailNotConfiguredError('Account deletion')
      const id = randomUUID()
      const { refusedForSeconds } = await erasure.requestLink(
        { id, email, emailKey: resetEmailKey(email) },
        context,
      )
      if (refusedForSeconds !== null) throw new AccountDeletionLimitError(refusedForSeconds)
      // Whether or not a job was queued: the sender finds none for an unknown email, and the answer takes as long.
      await mail.notify(id)
    },

    /** Erases the account of a live deletion link, using it up; one answer for every dead link. */
    async confirm(token: string, context: RequestContext): Promise<void> {
      const noticeId = randomUUID()
      const outcome = await erasure.eraseByLink(
        { tokenHash: hashResetToken(token), noticeId, notify: mail !== undefined },
        context,
      )
      if (outcome === 'last_superuser') throw new LastSuperuserError()
      if (outcome === 'invalid') throw new InvalidDeletionTokenError()
      await notify(noticeId)
    },
  }
}
