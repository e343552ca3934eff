import { type SQL, sql } from 'drizzle-orm'
import type { MailKind, MailSkip } from '#shared/domain/ports'
import type { RequestContext, UserRecord } from '#shared/domain/users'
import { mailOutbox, securityEvents, sessions } from '../schema.ts'

/** A `users` row as raw SQL returns it (snake_case; timestamps may come back as strings). */
export type RawUserRow = {
  id: number
  email: string
  username: string | null
  hashed_password: string
  is_active: boolean
  is_superuser: boolean
  created_at: Date | string
  updated_at: Date | string
  password_carried_over: boolean
}

export const toUserRecord = (row: RawUserRow): UserRecord => ({
  id: row.id,
  email: row.email,
  username: row.username,
  hashedPassword: row.hashed_password,
  isActive: row.is_active,
  isSuperuser: row.is_superuser,
  createdAt: new Date(row.created_at),
  updatedAt: new Date(row.updated_at),
  passwordCarriedOver: row.password_carried_over === true,
})

export type SecurityEventType =
  | 'register'
  | 'login_success'
  | 'login_failure'
  | 'lockout'
  | 'refresh'
  | 'refresh_reuse_detected'
  | 'logout'
  | 'admin_seeded'
  | 'session_ended'
  | 'password_changed'
  | 'password_reset_requested'
  | 'password_reset_limited'
  | 'password_reset_completed'
  | `${MailKind}_mail_${'sent' | 'failed' | MailSkip}`

const USER_AGENT_MAX = 512

/**
 * An `insert … select` of one security event, to embed as a CTE in the statement the request makes anyway. `userId`
 * and `email` are SQL expressions over `from` (a FROM clause, or nothing for a single row of parameters). With a
 * `key`, a second insert of the same event (a statement retried after its answer was lost) does nothing.
 */
export function eventInsert(
  type: SecurityEventType,
  context: RequestContext,
  row: { userId: SQL; email: SQL; from?: SQL; key?: SQL | string },
): SQL {
  const e = securityEvents
  const columns = [e.type, e.userId, e.email, e.sourceIp, e.userAgent, e.eventKey].map((column) =>
    sql.identifier(column.name),
  )
  return sql`insert into ${e} (${sql.join(columns, sql`, `)})
    select ${type}, ${row.userId}, ${row.email}, ${context.sourceIp || null}, ${context.userAgent.slice(0, USER_AGENT_MAX) || null}, ${row.key === undefined ? null : row.key}
    ${row.from ?? sql.empty()}
    ${row.key !== undefined ? sql`on conflict (${sql.identifier(e.eventKey.name)}) do nothing` : sql.empty()}`
}

/** An interval of `value` seconds, as a query parameter. */
export const seconds = (value: number): SQL => sql`make_interval(secs => ${value})`

/**
 * An `insert … select` queuing the "your password was changed" mail job `noticeId` for the user of each row of the
 * CTE `changed` (its `id`), to embed in the statement that changed the password; a retried statement queues it once.
 */
export const passwordChangedNotice = (noticeId: string): SQL =>
  sql`insert into ${mailOutbox} (id, kind, user_id)
    select ${noticeId}::uuid, 'password_changed', id from changed
    on conflict (id) do nothing`

/**
 * The second half of a password change or reset: revokes the user's sessions started before the change (all but
 * `kept`), read with a snapshot taken after it committed. The statement that changed the password revoked the ones
 * its own snapshot saw; a login whose session statement overlapped it (it checked the old password and committed
 * just before the change reached the user's row) is caught here. `changedAt` is the change's own time
 * (`clock_timestamp()` when it updated the row, as text, to the microsecond): sessions of the new password are later.
 */
export const revokeSessionsBefore = (
  userId: number,
  changedAt: string,
  reason: string,
  kept: string | null,
): SQL =>
  sql`update ${sessions} set revoked_at = now(), revoked_reason = ${reason}
    where user_id = ${userId} and revoked_at is null and created_at < ${changedAt}::timestamptz
    ${kept ? sql`and id <> ${kept}::uuid` : sql.empty()}`
