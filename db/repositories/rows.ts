import { getTableColumns, type SQL, sql } from 'drizzle-orm'
import type { MailKind, MailSkip } from '#shared/domain/ports'
import type { RequestContext, UserRecord } from '#shared/domain/users'
import { mailOutbox, securityEvents, sessions, users } from '../schema.ts'

/** The `users` table's columns, by record field, as the Drizzle table declares them. */
const USER_COLUMNS = Object.entries(getTableColumns(users))

/**
 * Every column of a user, read from `source` (the table, an alias or a CTE that selected these) and named as the
 * record's fields: the one column list every statement that reads a user selects, so a new column reaches them all.
 */
export const userColumns = (source: string): SQL =>
  sql.join(
    USER_COLUMNS.map(
      ([field, column]) =>
        sql`${sql.identifier(source)}.${sql.identifier(column.name)} as ${sql.identifier(field)}`,
    ),
    sql`, `,
  )

/** A user as `userColumns` selects it: each field as the driver returns it (a timestamp may be a string). */
export type UserRow = { [F in keyof UserRecord]: unknown }

/** The record of a row `userColumns` selected, each value mapped as Drizzle maps its column's. */
export const toUserRecord = (row: UserRow): UserRecord =>
  Object.fromEntries(
    USER_COLUMNS.map(([field, column]) => {
      const value = row[field as keyof UserRow]
      return [field, value === null ? null : column.mapFromDriverValue(value)]
    }),
  ) as UserRecord

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
  | 'email_verification_requested'
  | 'email_verification_limited'
  | 'email_verified'
  | 'email_change_requested'
  | 'email_change_limited'
  | 'email_changed'
  | 'email_code_failed'
  | 'admin_user_updated'
  | 'admin_sessions_ended'
  | 'admin_password_reset_requested'
  | 'account_deletion_requested'
  | 'account_deletion_limited'
  | `${MailKind}_mail_${'sent' | 'failed' | MailSkip}`

const USER_AGENT_MAX = 512

/** The request's source address and user agent as the audit trail stores them (the agent cut to its column). */
export const auditedRequest = (context: RequestContext) => ({
  sourceIp: context.sourceIp || null,
  userAgent: context.userAgent.slice(0, USER_AGENT_MAX) || null,
})

/**
 * The email an event stores: the address itself when the event names a user (`userId` not null), else only
 * `sha256:` and the hex SHA-256 of the canonical address, so a typed address that is no account's (a typo, a
 * stranger's, a password typed in the wrong field) is not kept in clear for the audit's 400 days. Unkeyed, so an
 * operator finds an address's events by hashing it: `email = 'sha256:' || encode(sha256(convert_to(lower(trim(
 * 'Someone@Example.com')), 'UTF8')), 'hex')`. A digest of a guessable address can be confirmed by guessing; it keeps
 * the trail from being a list of addresses, which is what it is for.
 */
export const auditedEmail = (userId: SQL, email: SQL): SQL =>
  sql`case when ${userId} is null then 'sha256:' || encode(sha256(convert_to(${email}, 'UTF8')), 'hex') else ${email} end`

/**
 * An `insert … select` of one security event, to embed as a CTE in the statement the request makes anyway. `userId`
 * and `email` are SQL expressions over `from` (a FROM clause, or nothing for a single row of parameters); an event
 * with no user stores the email's digest (`auditedEmail`). With a `key`, a second insert of the same event (a
 * statement retried after its answer was lost) does nothing: the conflict names the partial unique index's
 * predicate, so it is inferred with or without the full index beside it.
 */
export function eventInsert(
  type: SecurityEventType,
  context: RequestContext,
  row: {
    userId: SQL
    email: SQL
    from?: SQL
    key?: SQL | string
    /** An admin action's superuser (`actor_id`) and what it changed (`details`, JSON). */
    actorId?: number
    details?: SQL
  },
): SQL {
  const e = securityEvents
  const columns = [e.type, e.userId, e.email, e.sourceIp, e.userAgent, e.eventKey, e.actorId, e.details].map(
    (column) => sql.identifier(column.name),
  )
  const { sourceIp, userAgent } = auditedRequest(context)
  return sql`insert into ${e} (${sql.join(columns, sql`, `)})
    select ${type}, ${row.userId}, ${auditedEmail(row.userId, row.email)}, ${sourceIp}, ${userAgent}, ${row.key === undefined ? null : row.key}, ${row.actorId ?? null}::int, ${row.details ?? sql`null`}::jsonb
    ${row.from ?? sql.empty()}
    ${row.key !== undefined ? sql`on conflict (${sql.identifier(e.eventKey.name)}) where ${sql.identifier(e.eventKey.name)} is not null do nothing` : sql.empty()}`
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
  sql`update ${sessions} set revoked_at = now(), revoked_reason = ${reason}, expires_at = now()
    where user_id = ${userId} and revoked_at is null and created_at < ${changedAt}::timestamptz
    ${kept ? sql`and id <> ${kept}::uuid` : sql.empty()}`
