import { sql } from 'drizzle-orm'
import type { PasswordResetPolicy, PasswordResetRepository } from '#shared/domain/ports'
import type { Database } from '../client.ts'
import { rethrowUnavailable } from '../errors.ts'
import { emailCodes, loginAttempts, passwordResetTokens, securityEvents, sessions, users } from '../schema.ts'
import { limitedMailRequest } from './mail-requests.ts'
import { eventInsert, passwordChangedNotice, revokeSessionsBefore } from './rows.ts'

/**
 * Link `t` of user `u` was requested after the account's links were last made void (a change, a reset, "end all
 * sessions"): those statements delete the links they find, and this catches one whose mail was being sent meanwhile.
 */
const notVoided = sql`t.requested_at > coalesce(u.links_revoked_at, '-infinity')`

/** Why the sessions of a reset ended (`sessions.revoked_reason`). */
const ENDED_BY_PASSWORD_RESET = 'password_reset'

/** Password-reset requests (their limits and mail jobs) and confirmations. */
export function createPasswordResetRepository(db: Database, policy: PasswordResetPolicy) {
  return {
    request: ({ id, email, emailKey }, context) =>
      limitedMailRequest(
        db,
        policy,
        {
          id,
          email,
          emailKey,
          keyPrefix: 'password-reset',
          event: 'password_reset',
          job: 'password_reset',
          account: sql`u.email = ${email} and u.is_active`,
        },
        context,
      ),

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
            -- The link came by mail: the mailbox is the user's, so the address is verified.
            update ${users} u set hashed_password = ${hash}, password_carried_over = false,
              credential_version = u.credential_version + 1, links_revoked_at = clock_timestamp(),
              email_verified = true
            from used where u.id = used.user_id
            returning u.id, u.email, clock_timestamp()::text as changed_at
          ), revoked as (
            update ${sessions} s set revoked_at = now(), revoked_reason = ${ENDED_BY_PASSWORD_RESET}, expires_at = now()
            from changed where s.user_id = changed.id and s.revoked_at is null
            returning s.id
          ), cleared as (
            delete from ${loginAttempts} where email in (select email from changed)
          ), codes_voided as (
            delete from ${emailCodes} where user_id in (select id from changed)
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
