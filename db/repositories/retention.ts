import { type SQL, sql } from 'drizzle-orm'
import type { RetentionPolicy, RetentionRepository, RetentionTable } from '#shared/domain/ports'
import type { Database } from '../client.ts'
import { rethrowUnavailable } from '../errors.ts'
import {
  loginAttempts,
  mailOutbox,
  passwordResetTokens,
  rateLimits,
  refreshTokens,
  securityEvents,
  sessions,
} from '../schema.ts'
import { seconds } from './rows.ts'

/** How long a mail job's row is kept: long after Lambda stops retrying it, for an operator to look at. */
const MAIL_JOB_RETENTION_DAYS = 30

/** The rows no rule reads any more, table by table; each purge deletes a bounded batch of them. */
export function createRetentionRepository(db: Database, policy: RetentionPolicy) {
  const sessionMaxAge = seconds(policy.sessionMaxAgeSeconds)
  const stale: Record<RetentionTable, { table: SQL; key: SQL; where: SQL }> = {
    // Ended sessions (revoked, past their lifetime, or with no token left alive); their tokens go with them.
    sessions: {
      table: sql`${sessions}`,
      key: sql`id`,
      where: sql`revoked_at is not null or created_at <= now() - ${sessionMaxAge}
        or not exists (select 1 from ${refreshTokens} t where t.session_id = ${sessions}.id and t.expires_at > now())`,
    },
    // Expired tokens of sessions still alive: a replay of one is refused as unknown instead of as reused.
    refresh_tokens: { table: sql`${refreshTokens}`, key: sql`token_hash`, where: sql`expires_at <= now()` },
    login_attempts: {
      table: sql`${loginAttempts}`,
      key: sql`email`,
      where: sql`(locked_until is null and window_started_at <= now() - ${seconds(policy.loginWindowSeconds)})
        or locked_until <= now()`,
    },
    rate_limits: {
      table: sql`${rateLimits}`,
      key: sql`key`,
      where: sql`window_started_at <= now() - ${seconds(
        Math.max(policy.ipWindowSeconds, policy.registerWindowSeconds, policy.resetWindowSeconds),
      )}`,
    },
    password_reset_tokens: {
      table: sql`${passwordResetTokens}`,
      key: sql`user_id`,
      where: sql`expires_at <= now()`,
    },
    // A job matters while it may still be sent (Lambda gives up on an event within hours); a month is ample.
    mail_outbox: {
      table: sql`${mailOutbox}`,
      key: sql`id`,
      where: sql`created_at <= now() - make_interval(days => ${MAIL_JOB_RETENTION_DAYS})`,
    },
    security_events: {
      table: sql`${securityEvents}`,
      key: sql`id`,
      where: sql`created_at <= now() - make_interval(days => ${policy.auditRetentionDays})`,
    },
  }

  return {
    async purge(name, limit) {
      const { table, key, where } = stale[name]
      const result = await db
        .execute(
          sql`delete from ${table} where ${key} in (select ${key} from ${table} where ${where} limit ${limit})`,
        )
        .catch(rethrowUnavailable)
      return result.rowCount ?? 0
    },
  } satisfies RetentionRepository
}
