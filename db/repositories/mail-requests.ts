import { type SQL, sql } from 'drizzle-orm'
import type { MailKind, PasswordResetPolicy } from '#shared/domain/ports'
import type { RequestContext } from '#shared/domain/users'
import type { Database } from '../client.ts'
import { rethrowUnavailable } from '../errors.ts'
import { mailOutbox, rateLimits, securityEvents, users } from '../schema.ts'
import { eventInsert, type SecurityEventType, seconds } from './rows.ts'

/** A mailed request (a reset link, a code) as `limitedMailRequest` counts and queues it. */
export interface LimitedMailRequest {
  /** The mail job's id, and the key of the request's event (a retried statement counts once). */
  id: string
  /** The address the request names (audited; for a reset or a verification, the account's). */
  email: string
  /** The key of the email's limit: its SHA-256. */
  emailKey: string
  /** The counters' prefix: `${keyPrefix}-ip:…`, `${keyPrefix}-email:…`. */
  keyPrefix: string
  /** The events' prefix: `${event}_requested`, `${event}_limited`. */
  event: 'password_reset' | 'email_verification' | 'email_change' | 'account_deletion'
  job: MailKind
  /** Which account (`u`, of `users`) gets a job, if any: a condition over `u`. */
  account: SQL
  /** The job's recipient when it is not the account's address (a code to a new address). */
  recipient?: string
}

/**
 * One statement, the same work whether or not an account gets mail: counts the source IP's limit, then the email's
 * while the IP is within its own; queues mail job `id` if both allow it and `account` names an account; audits the
 * request (a refused one only if it is the first past its limit in the window). Seconds to wait if refused, else null.
 * The password-reset request's statement, shared by every request that mails something to an address it names.
 */
export async function limitedMailRequest(
  db: Database,
  policy: Pick<PasswordResetPolicy, 'emailLimit' | 'ipLimit' | 'windowSeconds'>,
  request: LimitedMailRequest,
  context: RequestContext,
): Promise<{ refusedForSeconds: number | null }> {
  const { id, email, emailKey, keyPrefix, event } = request
  const window = seconds(policy.windowSeconds)
  const ipKey = `${keyPrefix}-ip:${context.sourceIp}`
  const byEmail = `${keyPrefix}-email:${emailKey}`
  const requestedKey = `${event}_requested:${id}`
  const limitedKey = `${event}_limited:${id}`
  const expired = sql`r.window_started_at <= now() - ${window}`
  /** One hit on the fixed window `key`, for each row of `from`; returns the counter as it now stands. */
  const counted = (key: string, from: SQL) => sql`
    insert into ${rateLimits} as r (key, hits, window_started_at)
    select ${key}, 1, now() ${from}
    on conflict (key) do update set
      hits = case when ${expired} then 1 else r.hits + 1 end,
      window_started_at = case when ${expired} then now() else r.window_started_at end
    returning r.hits, r.window_started_at`
  // Counted first, for every email alike: the address, then the email only while the address is within its
  // limit, so a flood of new emails from one address writes no counter past that limit (and one refused by the
  // address costs its email nothing; it sends no mail either). The request past either limit is refused; only
  // the one that first went past it in its window is audited, so a flood adds one event per window, not one per
  // request (its size stays in the address's counter). A retried statement (its answer lost) finds its event
  // and counts nothing again; one refused past that first one, which left no event, counts once more and is
  // refused all the same.
  const result = await db
    .execute<{ allowed: boolean; retry_after: number | null }>(sql`
      with fresh as (
        select not exists (
          select 1 from ${securityEvents} where event_key in (${requestedKey}, ${limitedKey})
        ) as fresh
      ), by_ip as (
        ${counted(ipKey, sql`from fresh where fresh.fresh`)}
      ), by_email as (
        ${counted(byEmail, sql`from by_ip where by_ip.hits <= ${policy.ipLimit}::int`)}
      ), over as (
        select hits, ${policy.ipLimit}::int as bound, window_started_at from by_ip
        where hits > ${policy.ipLimit}::int
        union all
        select hits, ${policy.emailLimit}::int, window_started_at from by_email
        where hits > ${policy.emailLimit}::int
      ), verdict as (
        select case
            when (select fresh from fresh) then not exists (select 1 from over)
            else exists (select 1 from ${securityEvents} where event_key = ${requestedKey})
          end as allowed,
          exists (select 1 from over where hits = bound + 1) as first_refused,
          greatest(1, coalesce(
            (select max(ceil(extract(epoch from window_started_at + ${window} - now())))::int from over), 1
          )) as retry_after
      ), account as (
        select u.id from ${users} u, verdict, fresh
        where ${request.account} and verdict.allowed and fresh.fresh
      ), job as (
        insert into ${mailOutbox} (id, kind, user_id, recipient)
        select ${id}::uuid, ${request.job}, id, ${request.recipient ?? null} from account
        on conflict (id) do nothing
      ), requested_event as (
        ${eventInsert(`${event}_requested` as SecurityEventType, context, {
          userId: sql`(select id from account)`,
          email: sql`${email}`,
          from: sql`from verdict, fresh where verdict.allowed and fresh.fresh`,
          key: requestedKey,
        })}
      ), limited_event as (
        ${eventInsert(`${event}_limited` as SecurityEventType, context, {
          userId: sql`null::int`,
          email: sql`${email}`,
          from: sql`from verdict, fresh where not verdict.allowed and verdict.first_refused and fresh.fresh`,
          key: limitedKey,
        })}
      )
      select allowed, retry_after from verdict`)
    .catch(rethrowUnavailable)
  const row = result.rows[0]
  return { refusedForSeconds: row?.allowed === false ? (row.retry_after ?? 1) : null }
}
