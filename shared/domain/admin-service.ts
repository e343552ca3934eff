import { randomUUID } from 'node:crypto'
import type { AdminUserListQuery, AdminUserPatch } from './admin-schemas.ts'
import { type PublicUser, toPublicUser } from './contract.ts'
import {
  LastSuperuserError,
  MailNotConfiguredError,
  UserInactiveError,
  UserNotFoundError,
  ValidationError,
} from './errors.ts'
import type { AdminRepository, ErasureRepository, MailQueue } from './ports.ts'
import type { SessionPrincipal } from './principal.ts'
import type { RequestContext } from './users.ts'

export interface AdminDependencies {
  admin: AdminRepository
  erasure: ErasureRepository
  /** Where a reset mail is queued; absent when the deployment sends no mail (the reset is then refused, 503). */
  mail?: MailQueue | undefined
}

export interface UserPage {
  items: PublicUser[]
  /** Pass as `cursor` for the next page; null on the last one. */
  next_cursor: string | null
}

export type AdminService = ReturnType<typeof createAdminService>

const CURSOR_PREFIX = 'u'

/** A page's cursor: the last id it holds, opaque to clients (they pass it back as given). */
export const encodeCursor = (id: number): string => Buffer.from(`${CURSOR_PREFIX}${id}`).toString('base64url')

/** The id a cursor ends at; a 422 for anything this service did not make. */
export function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString('utf8')
  const id = text.startsWith(CURSOR_PREFIX) ? Number(text.slice(CURSOR_PREFIX.length)) : Number.NaN
  if (!Number.isSafeInteger(id) || id < 1 || encodeCursor(id) !== cursor) {
    throw new ValidationError([{ loc: ['query', 'cursor'], msg: 'Invalid cursor', type: 'value_error' }])
  }
  return id
}

/**
 * What operators do to accounts: find them, change their flags, end their sessions, send them a reset link. Every
 * action is taken by the principal a superuser route authenticated, and audited with its id by the repository.
 */
export function createAdminService({ admin, erasure, mail }: AdminDependencies) {
  return {
    async listUsers(query: AdminUserListQuery): Promise<UserPage> {
      const { users, more } = await admin.list({
        limit: query.limit,
        before: query.cursor === undefined ? null : decodeCursor(query.cursor),
        prefix: query.q ?? null,
        isActive: query.is_active ?? null,
        isSuperuser: query.is_superuser ?? null,
      })
      const last = users.at(-1)
      return { items: users.map(toPublicUser), next_cursor: more && last ? encodeCursor(last.id) : null }
    },

    async getUser(userId: number): Promise<PublicUser> {
      const user = await admin.find(userId)
      if (!user) throw new UserNotFoundError()
      return toPublicUser(user)
    },

    async updateUser(
      { user: actor }: SessionPrincipal,
      userId: number,
      patch: AdminUserPatch,
      context: RequestContext,
    ): Promise<PublicUser> {
      const changed = await admin.update(
        actor.id,
        userId,
        {
          ...(patch.is_active === undefined ? {} : { isActive: patch.is_active }),
          ...(patch.is_superuser === undefined ? {} : { isSuperuser: patch.is_superuser }),
        },
        context,
      )
      if (changed === 'not_found') throw new UserNotFoundError()
      if (changed === 'last_superuser') throw new LastSuperuserError()
      return toPublicUser(changed)
    },

    async endSessions(
      { user: actor }: SessionPrincipal,
      userId: number,
      context: RequestContext,
    ): Promise<void> {
      if (!(await admin.endSessions(actor.id, userId, context))) throw new UserNotFoundError()
    },

    /**
     * Erases the account, as its user's own deletion does (the same statement): the email free again, every session,
     * token, link and pending mail of it void, a notice to the address it had (sent when mail is configured).
     */
    async deleteUser(
      { user: actor }: SessionPrincipal,
      userId: number,
      context: RequestContext,
    ): Promise<void> {
      const noticeId = randomUUID()
      const outcome = await erasure.erase(
        { userId, actorId: actor.id, noticeId, notify: mail !== undefined },
        context,
      )
      if (outcome === 'not_found') throw new UserNotFoundError()
      if (outcome === 'last_superuser') throw new LastSuperuserError()
      // The account is gone whether or not the notice goes: a failure to hand it on is not the erasure's.
      await mail?.notify(noticeId).catch(() => undefined)
    },

    /** Mails the account a reset link, as the public request does (the same job, the same sender), unlimited. */
    async sendPasswordReset(
      { user: actor }: SessionPrincipal,
      userId: number,
      context: RequestContext,
    ): Promise<void> {
      if (!mail) throw new MailNotConfiguredError()
      const jobId = randomUUID()
      const outcome = await admin.requestReset(actor.id, userId, jobId, context)
      if (outcome === 'not_found') throw new UserNotFoundError()
      if (outcome === 'inactive') throw new UserInactiveError()
      await mail.notify(jobId)
    },
  }
}
