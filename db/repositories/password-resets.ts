import { type SQL, sql } from 'drizzle-orm'
import type { PasswordResetPolicy, PasswordResetRepository } from '#shared/domain/ports'
import type { Database } from '../client.ts'
import { rethrowUnavailable } from '../errors.ts'
import {
  loginAttempts,
  mailOutbox,
  passwordResetTokens,
  rateLimits,
  securityEvents,
  sessions,
  users,
} from '../schema.ts'
import { eventInsert, passwordChangedNotice, revokeSessionsBefore, seconds } from './rows.ts'

/**
 * Link `t` of user `u` was requested after the account's links were last made void (a change, a reset, "end all
 * sessions"): those statements delete the links they find, and this catches one whose mail was being sent meanwhile.
 */
const notVoided = sql`t.requested_at > coalesce(u.links_revoked_at, '-infinity')`

/** Why the sessions of a reset ended (`sessions.revoked_reason`). */
const ENDED_BY_PASSWORD_RESET = 'password_reset'

/** Password-reset requests (their limits and mail jobs) and confirmations. */
export function createPasswordResetRepository(db: Database, policy: PasswordResetPolicy) {
  const window = seconds(policy.windowSeconds)

  return {
    async request({ id, email, emailKey }, context) {
      const ipKey = `password-reset-ip:${context.sourceIp}`
      const byEmail = `password-reset-email:${emailKey}`
      const requestedKey = `password_reset_requested:${id}`
      const limitedKey = `password_reset_limited:${id}`
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
            where u.email = ${email} and u.is_active and verdict.allowed and fresh.fresh
          ), job as (
            insert into ${mailOutbox} (id, kind, user_id)
            select ${id}::uuid, 'password_reset', id from account
            on conflict (id) do nothing
          ), requested_event as (
            ${eventInsert('password_reset_requested', context, {
              userId: sql`(select id from account)`,
              email: sql`${email}`,
              from: sql`from verdict, fresh where verdict.allowed and fresh.fresh`,
              key: requestedKey,
            })}
          ), limited_event as (
            ${eventInsert('password_reset_limited', context, {
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
    },

    async isLive(tokenHash) {
      const result = await db
        .execute<{ live: boolean }>(sql`
          select exists (
            select 1 from ${passwordResetTokens} t join ${users} u on u.id = t.user_id
            where t.token_hash = ${tokenHash} and t.expires_at > now() and u.is_active and ${notVoided}
          ) as live`)
        .catch(rethrowUnavailable)
      return result.rows[0]?.live === true
    },

    async complete({ id, tokenHash, hash, noticeId }, context) {
      const key = `password_reset_completed:${id}`
      // The link is used up by the statement that uses it: of two confirmations with one token, one succeeds.
      const result = await db
        .execute<{ completed: boolean; user_id: number | null; changed_at: string | null }>(sql`
          with done as (
            select 1 from ${securityEvents} where event_key = ${key}
          ), used as (
            delete from ${passwordResetTokens} t using ${users} u
            where t.token_hash = ${tokenHash} and t.expires_at > now() and u.id = t.user_id and u.is_active
              and ${notVoided}
            returning t.user_id
          ), changed as (
            update ${users} u set hashed_password = ${hash}, password_carried_over = false,
              credential_version = u.credential_version + 1, links_revoked_at = clock_timestamp()
            from used where u.id = used.user_id
            returning u.id, u.email, clock_timestamp()::text as changed_at
          ), revoked as (
            update ${sessions} s set revoked_at = now(), revoked_reason = ${ENDED_BY_PASSWORD_RESET}, expires_at = now()
            from changed where s.user_id = changed.id and s.revoked_at is null
            returning s.id
          ), cleared as (
            delete from ${loginAttempts} where email in (select email from changed)
          ), notice as (
            ${passwordChangedNotice(noticeId)}
          ), reset_event as (
            ${eventInsert('password_reset_completed', context, {
              userId: sql`changed.id`,
              email: sql`changed.email`,
              from: sql`from changed`,
              key,
            })}
          )
          select exists (select 1 from changed) or exists (select 1 from done) as completed,
            (select id from changed) as user_id, (select changed_at from changed) as changed_at`)
        .catch(rethrowUnavailable)
      const row = result.rows[0]
      if (row?.user_id != null && row.changed_at) {
        await db
          .execute(revokeSessionsBefore(row.user_id, row.changed_at, ENDED_BY_PASSWORD_RESET, null))
          .catch(rethrowUnavailable)
      }
      return row?.completed === true
    },
  } satisfies PasswordResetRepository
}
