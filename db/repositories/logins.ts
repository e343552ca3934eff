import { sql } from 'drizzle-orm'
import type { LoginPolicy, LoginRepository } from '#shared/domain/ports'
import type { Database } from '../client.ts'
import { rethrowUnavailable } from '../errors.ts'
import { loginAttempts, refreshTokens, users } from '../schema.ts'
import { eventInsert, type RawUserRow, toUserRecord } from './rows.ts'

const seconds = (value: number) => sql`make_interval(secs => ${value})`

/** Logins: the failed-login limit, the first refresh token, and their audit events. */
export function createLoginRepository(db: Database, policy: LoginPolicy) {
  const a = loginAttempts
  const window = seconds(policy.windowSeconds)

  return {
    async find(email) {
      const result = await db
        .execute<RawUserRow & { locked_for: number | null }>(sql`
          select u.*, case when a.${sql.identifier(a.lockedUntil.name)} > now()
            then ceil(extract(epoch from a.${sql.identifier(a.lockedUntil.name)} - now()))::int end as locked_for
          from (select ${email}::varchar as email) q
          left join ${users} u on u.email = q.email
          left join ${a} a on a.email = q.email`)
        .catch(rethrowUnavailable)
      const row = result.rows[0]
      return {
        user: row?.id == null ? null : toUserRecord(row),
        lockedForSeconds: row?.locked_for ?? null,
      }
    },

    async recordFailure(email, userId, context) {
      // A window that has passed, or a lock that has ended, starts the count over.
      const expired = sql`(${a}.${sql.identifier(a.windowStartedAt.name)} <= now() - ${window}
        or (${a}.${sql.identifier(a.lockedUntil.name)} is not null and ${a}.${sql.identifier(a.lockedUntil.name)} <= now()))`
      const failures = sql`case when ${expired} then 1 else ${a}.${sql.identifier(a.failures.name)} + 1 end`
      const result = await db
        .execute<{ failures: number; locked_for: number | null }>(sql`
          with attempt as (
            insert into ${a} (email, failures, window_started_at, locked_until) values (${email}, 1, now(), null)
            on conflict (email) do update set
              failures = ${failures},
              window_started_at = case when ${expired} then now() else ${a}.window_started_at end,
              locked_until = case when ${failures} >= ${policy.maxFailures} then now() + ${window} else null end
            returning failures, locked_until
          ), failure_event as (
            ${eventInsert('login_failure', context, { userId: sql`${userId}::int`, email: sql`${email}` })}
          ), lockout_event as (
            ${eventInsert('lockout', context, {
              userId: sql`${userId}::int`,
              email: sql`${email}`,
              from: sql`from attempt where attempt.failures = ${policy.maxFailures}`,
            })}
          )
          select failures, case when locked_until is not null
            then ceil(extract(epoch from locked_until - now()))::int end as locked_for from attempt`)
        .catch(rethrowUnavailable)
      return { lockedForSeconds: result.rows[0]?.locked_for ?? null }
    },

    async recordSuccess(session, context) {
      const t = refreshTokens
      const rehash = session.rehashedPassword
        ? sql`, rehash as (update ${users} set hashed_password = ${session.rehashedPassword} where id = ${session.user.id})`
        : sql.empty()
      await db
        .execute(sql`
          with cleared as (delete from ${a} where email = ${session.user.email})
          ${rehash}
          , login_event as (
            ${eventInsert('login_success', context, { userId: sql`${session.user.id}::int`, email: sql`${session.user.email}` })}
          )
          insert into ${t} (token_hash, family_id, user_id, expires_at)
          values (${session.refreshTokenHash}, ${session.familyId}, ${session.user.id}, ${session.expiresAt.toISOString()}::timestamptz)`)
        .catch(rethrowUnavailable)
    },
  } satisfies LoginRepository
}
