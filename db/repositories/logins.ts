import { type SQL, sql } from 'drizzle-orm'
import type { LoginPolicy, LoginRepository, SessionPolicy } from '#shared/domain/ports'
import type { Database } from '../client.ts'
import { rethrowUnavailable } from '../errors.ts'
import { loginAttempts, rateLimits, refreshTokens, sessions, users } from '../schema.ts'
import { eventInsert, seconds, toUserRecord, type UserRow, userColumns } from './rows.ts'

/** How many attempt ids a row remembers, so that a retried reservation is not counted twice. */
const REMEMBERED_ATTEMPTS = 32

/** Logins: the exact failed-login limit, the source IP's limit, the session a success starts, and their audit. */
export function createLoginRepository(db: Database, policy: LoginPolicy, sessionPolicy: SessionPolicy) {
  const window = seconds(policy.windowSeconds)
  const ipWindow = seconds(policy.ipWindowSeconds)
  const ipKey = (sourceIp: string) => `login-failures:${sourceIp}`

  return {
    async begin({ id, email }, context) {
      // One upsert on the email's row, so concurrent attempts queue on its lock and each sees the others' counts:
      // the attempt is counted before its compare, and the one past the limit is refused unchecked. A lock that
      // has ended, or a window that has passed with no lock, starts the count over.
      const seen = sql`${id}::uuid = any(a.recent_attempts)`
      const expired = sql`((a.locked_until is null and a.window_started_at <= now() - ${window})
        or a.locked_until <= now())`
      const lockFrom = (count: SQL) =>
        sql`case when ${count} >= ${policy.maxFailures} then now() + ${window} end`
      const result = await db
        .execute<UserRow & { number: number | null; refused_for: number | null }>(sql`
          with ip as (
            select coalesce(sum(hits) filter (where window_started_at > now() - ${ipWindow}), 0) as hits,
              max(ceil(extract(epoch from window_started_at + ${ipWindow} - now())))::int as retry_after
            from ${rateLimits} where key = ${ipKey(context.sourceIp)}
          ), attempt as (
            insert into ${loginAttempts} as a (email, failures, window_started_at, locked_until, recent_attempts)
            select ${email}, 1, now(), ${lockFrom(sql`1`)}, array[${id}::uuid] from ip
            where ip.hits < ${policy.ipMaxFailures}
            on conflict (email) do update set
              failures = case when ${seen} then a.failures when ${expired} then 1 else a.failures + 1 end,
              window_started_at = case when not ${seen} and ${expired} then now() else a.window_started_at end,
              locked_until = case
                when ${seen} then a.locked_until
                when ${expired} then ${lockFrom(sql`1`)}
                else coalesce(a.locked_until, ${lockFrom(sql`a.failures + 1`)}) end,
              recent_attempts = case when ${seen} then a.recent_attempts
                else (array_append(a.recent_attempts, ${id}::uuid))[greatest(1, cardinality(a.recent_attempts) + 2 - ${REMEMBERED_ATTEMPTS}):] end
            returning failures, locked_until
          )
          select ${userColumns('u')}, attempt.failures as number, case
              when attempt.failures is null then greatest(1, ip.retry_after)
              when attempt.failures > ${policy.maxFailures}
                then greatest(1, ceil(extract(epoch from attempt.locked_until - now()))::int)
            end as refused_for
          from ip left join attempt on true left join ${users} u on u.email = ${email}`)
        .catch(rethrowUnavailable)
      const row = result.rows[0]
      return {
        id,
        email,
        user: row?.id == null ? null : toUserRecord(row),
        refusedForSeconds: row?.refused_for ?? null,
        number: row?.number ?? 0,
      }
    },

    async recordFailure(attempt, context) {
      const userId = sql`${attempt.user?.id ?? null}::int`
      const expired = sql`${rateLimits}.window_started_at <= now() - ${ipWindow}`
      // The failure's event is keyed by the attempt: a retried statement inserts nothing and counts nothing.
      await db
        .execute(sql`
          with failure_event as (
            ${eventInsert('login_failure', context, { userId, email: sql`${attempt.email}`, key: `failure:${attempt.id}` })}
            returning id
          ), lockout_event as (
            ${eventInsert('lockout', context, {
              userId,
              email: sql`${attempt.email}`,
              from: sql`from failure_event where ${attempt.number} = ${policy.maxFailures}`,
            })}
          )
          insert into ${rateLimits} (key, hits, window_started_at)
          select ${ipKey(context.sourceIp)}, 1, now() from failure_event
          on conflict (key) do update set
            hits = case when ${expired} then 1 else ${rateLimits}.hits + 1 end,
            window_started_at = case when ${expired} then now() else ${rateLimits}.window_started_at end`)
        .catch(rethrowUnavailable)
    },

    async startSession(session, context) {
      const user = session.user
      // The session matters until its first token expires (never past its lifetime), or until a rotation or an end
      // sets that again: its expiry is the token's, for the cleanup's index.
      const expiry = sql`least(${session.refreshTokenExpiresAt.toISOString()}::timestamptz, now() + ${seconds(sessionPolicy.maxAgeSeconds)})`
      // Everything hangs on the session's insert: a retried statement finds the id taken and changes nothing. The
      // insert needs the account active at the credential version the password was checked against, read under a
      // share lock on its row: a reset or change that updated the row first makes this login start nothing; one that
      // comes after waits for this statement, then revokes the session it made. Another login's rehash keeps the
      // version, so concurrent logins never refuse each other; and nothing here writes the row, so none deadlock.
      const result = await db
        .execute<{ started: boolean }>(sql`
          with account as (
            select id from ${users}
            where id = ${user.id} and is_active and credential_version = ${user.credentialVersion}
            for share
          ), started as (
            insert into ${sessions} (id, user_id, source_ip, user_agent, expires_at)
            select ${session.id}, id, ${context.sourceIp || null}, ${context.userAgent.slice(0, 512) || null}, ${expiry}
            from account
            on conflict (id) do nothing
            returning id
          ), first_token as (
            insert into ${refreshTokens} (token_hash, session_id, expires_at)
            select ${session.refreshTokenHash}, id, ${expiry}
            from started
          ), cleared as (
            delete from ${loginAttempts} where email = ${user.email} and exists (select 1 from started)
          ), login_event as (
            ${eventInsert('login_success', context, { userId: sql`${user.id}::int`, email: sql`${user.email}`, from: sql`from started` })}
          )
          select exists (select 1 from started)
            or exists (select 1 from ${sessions} where id = ${session.id}::uuid) as started`)
        .catch(rethrowUnavailable)
      return result.rows[0]?.started === true
    },

    async upgradeHash({ user, hash, carriedOver }) {
      // The same password, so the version stays; guarded by the hash checked too, so of two logins' rehashes one
      // writes and the other finds the hash replaced.
      const result = await db
        .execute(sql`
          update ${users} set hashed_password = ${hash}, password_carried_over = ${carriedOver}
          where id = ${user.id} and credential_version = ${user.credentialVersion}
            and hashed_password = ${user.hashedPassword}`)
        .catch(rethrowUnavailable)
      return (result.rowCount ?? 0) > 0
    },
  } satisfies LoginRepository
}
