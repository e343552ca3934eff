import { type SQL, sql } from 'drizzle-orm'
import type { RetentionPolicy, RetentionRepository, RetentionTable } from '#shared/domain/ports'
import type { Database } from '../client.ts'
import { rethrowUnavailable } from '../errors.ts'
import {
  accountDeletionTokens,
  emailCodes,
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

/**
 * A table's stale rows as a range of one indexed column: `column <= bound` (and `also`, a filter on the rows of that
 * range), read in the column's order, so each batch is an index range scan that stops after `limit` rows, whatever
 * the table's size.
 */
interface StaleRange {
  table: SQL
  key: SQL
  column: SQL
  bound: SQL
  also?: SQL
}

/** The rows no rule reads any more, table by table; each purge deletes a bounded batch of them. */
export function createRetentionRepository(db: Database, policy: RetentionPolicy) {
  const sessionMaxAge = seconds(policy.sessionMaxAgeSeconds)
  const stale: Record<RetentionTable, StaleRange> = {
    // Ended sessions: revoked, past their lifetime, or with no token left alive (sessions.expires_at says when);
    // their tokens go with them.
    sessions: { table: sql`${sessions}`, key: sql`id`, column: sql`expires_at`, bound: sql`now()` },
    // Expired tokens of sessions still alive: a replay of one is refused as unknown instead of as reused.
    refresh_tokens: {
      table: sql`${refreshTokens}`,
      key: sql`token_hash`,
      column: sql`expires_at`,
      bound: sql`now()`,
    },
    // A passed window with no lock, or a lock that has ended. A lock is set to end one window after a failure of its
    // window, so every ended lock's window has passed too: the rule is a range of window_started_at.
    login_attempts: {
      table: sql`${loginAttempts}`,
      key: sql`email`,
      column: sql`window_started_at`,
      bound: sql`now() - ${seconds(policy.loginWindowSeconds)}`,
      also: sql`(locked_until is null or locked_until <= now())`,
    },
    rate_limits: {
      table: sql`${rateLimits}`,
      key: sql`key`,
      column: sql`window_started_at`,
      bound: sql`now() - ${seconds(
        Math.max(policy.ipWindowSeconds, policy.registerWindowSeconds, policy.resetWindowSeconds),
      )}`,
    },
    password_reset_tokens: {
      table: sql`${passwordResetTokens}`,
      key: sql`user_id`,
      column: sql`expires_at`,
      bound: sql`now()`,
    },
    account_deletion_tokens: {
      table: sql`${accountDeletionTokens}`,
      key: sql`user_id`,
      column: sql`expires_at`,
      bound: sql`now()`,
    },
    email_codes: {
      // By user (the unique index's first column): the outer check deletes only that user's expired codes.
      table: sql`${emailCodes}`,
      key: sql`user_id`,
      column: sql`expires_at`,
      bound: sql`now()`,
    },
    // A job matters while it may still be sent (Lambda gives up on an event within hours); a month is ample.
    mail_outbox: {
      table: sql`${mailOutbox}`,
      key: sql`id`,
      column: sql`created_at`,
      bound: sql`now() - make_interval(days => ${MAIL_JOB_RETENTION_DAYS})`,
    },
    security_events: {
      table: sql`${securityEvents}`,
      key: sql`id`,
      column: sql`created_at`,
      bound: sql`now() - make_interval(days => ${policy.auditRetentionDays})`,
    },
  }

  /** When session `s` stops mattering, from its own row and tokens: what the statements that write sessions set. */
  const expiryOf = (s: SQL) => sql`case
      when ${s}.revoked_at is not null then ${s}.revoked_at
      else least(${s}.created_at + ${sessionMaxAge}, coalesce(
        (select max(t.expires_at) from ${refreshTokens} t where t.session_id = ${s}.id), '-infinity'))
    end`
  /** The rule itself: revoked, past its lifetime, or with no token left alive. */
  const ended = (s: SQL) => sql`(${s}.revoked_at is not null or ${s}.created_at <= now() - ${sessionMaxAge}
    or not exists (select 1 from ${refreshTokens} t where t.session_id = ${s}.id and t.expires_at > now()))`

  return {
    async purge(name, limit) {
      const { table, key, column, bound, also } = stale[name]
      const filter = also ? sql` and ${also}` : sql.empty()
      const candidates = sql`select ${key} from ${table} where ${column} <= ${bound}${filter} order by ${column} limit ${limit}`
      const result = await db
        .execute(
          name === 'sessions'
            ? // The expiry finds the candidates; the rule decides, a token lookup each. A session whose expiry was set
              // by code that did not keep it (a rotation by the previous version, during a deploy) is given its right
              // one instead of being deleted, so it leaves the range and no batch finds it again.
              sql`with candidates as (${candidates}), purged as (
                  delete from ${sessions} s using candidates c where s.id = c.id and ${ended(sql`s`)}
                  returning s.id
                ), corrected as (
                  update ${sessions} s set expires_at = ${expiryOf(sql`s`)}
                  from candidates c where s.id = c.id and not ${ended(sql`s`)}
                )
                select count(*)::int as count from purged`
            : // The outer condition is checked again on a row a concurrent statement changed before this one locked it.
              sql`delete from ${table} where ${key} in (${candidates}) and ${column} <= ${bound}${filter}`,
        )
        .catch(rethrowUnavailable)
      if (name === 'sessions') return Number((result.rows[0] as { count?: number } | undefined)?.count ?? 0)
      return result.rowCount ?? 0
    },

    async fillSessionExpiry(limit) {
      // As the statements that start, rotate and end sessions now set it. A session a concurrent statement gave an
      // expiry meanwhile keeps that one (`expires_at is null` is checked again on the locked row).
      const result = await db
        .execute(sql`
          update ${sessions} s set expires_at = ${expiryOf(sql`s`)}
          where s.id in (select id from ${sessions} where expires_at is null limit ${limit})
            and s.expires_at is null`)
        .catch(rethrowUnavailable)
      return result.rowCount ?? 0
    },
  } satisfies RetentionRepository
}
