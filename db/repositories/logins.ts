import { type SQL, sql } from 'drizzle-orm'
import type { LoginPolicy, LoginRepository, SessionPolicy } from '#shared/domain/ports'
import type { RequestContext } from '#shared/domain/users'
import type { Database } from '../client.ts'
import { rethrowUnavailable, sqlState } from '../errors.ts'
import { loginAttempts, rateLimits, refreshTokens, sessions, users } from '../schema.ts'
import { eventInsert, seconds, toUserRecord, type UserRow, userColumns } from './rows.ts'

/** PostgreSQL's lock_not_available: no lock within the role's `lock_timeout`. */
const LOCK_NOT_AVAILABLE = '55P03'

/** How many attempt ids a row remembers, so that a retried reservation is not counted twice. */
const REMEMBERED_ATTEMPTS = 32

/** Why a session ended when a newer login of its user took it past `MAX_SESSIONS_PER_USER`. */
const ENDED_BY_SESSION_LIMIT = 'session_limit'

/** Logins: the exact failed-login limit, the source IP's limit, the session a success starts, and their audit. */
export function createLoginRepository(db: Database, policy: LoginPolicy, sessionPolicy: SessionPolicy) {
  const window = seconds(policy.windowSeconds)
  const ipWindow = seconds(policy.ipWindowSeconds)
  const ipKey = (sourceIp: string) => `login-failures:${sourceIp}`
  /** The counter row a user's logins take turns on (its hits count their logins; only the order matters). */
  const turnKey = (userId: number) => `logins:${userId}`
  const maxAge = seconds(sessionPolicy.maxAgeSeconds)

  /**
   * CTEs ending the user's live sessions past the newest `keep` that the statement's snapshot sees (the session a
   * statement inserts is not among them), when `when` holds, each with its `session_ended` event; the one a retry or
   * another end got to first is skipped.
   */
  const pastCap = (userId: number, keep: number, context: RequestContext, when: SQL) => sql`past_cap as (
            update ${sessions} s set revoked_at = now(), revoked_reason = ${ENDED_BY_SESSION_LIMIT}, expires_at = now()
            where s.id in (
              select o.id from ${sessions} o
              where o.user_id = ${userId} and o.revoked_at is null and o.created_at > now() - ${maxAge}
              order by o.created_at desc, o.id
              offset ${keep}
            ) and s.revoked_at is null and ${when}
            returning s.id, s.user_id
          ), past_cap_event as (
            ${eventInsert('session_ended', context, {
              userId: sql`past_cap.user_id`,
              email: sql`null`,
              from: sql`from past_cap`,
              key: sql`'session_ended:' || past_cap.id`,
            })}
          )`

  return {
    async begin({ id, email }, context) {
      // The email's row is locked first, so concurrent attempts on it queue and each sees the others' counts. An
      // attempt its lock refuses takes nothing from the address; any other takes a place in the address's window in
      // the same statement, before its compare (the upsert reads the row's latest count under its lock, so no more
      // than the limit ever hold one), and only an attempt that got one is counted on the email and checked. A lock
      // that has ended, or a window that has passed with no lock, starts the count over. A retried statement finds
      // its id among the email's recent attempts, and counts nothing again on either.
      const key = ipKey(context.sourceIp)
      const seen = sql`${id}::uuid = any(a.recent_attempts)`
      const expired = sql`((a.locked_until is null and a.window_started_at <= now() - ${window})
        or a.locked_until <= now())`
      const ipExpired = sql`r.window_started_at <= now() - ${ipWindow}`
      const lockFrom = (count: SQL) =>
        sql`case when ${count} >= ${policy.maxFailures} then now() + ${window} end`
      const result = await db
        .execute<
          UserRow & { number: number | null; refused_for: number | null; reservation: string | null }
        >(sql`
          with email_row as (
            select ${seen} as seen, not ${expired} and a.failures >= ${policy.maxFailures} as locked
            from ${loginAttempts} a where a.email = ${email}
            for update
          ), gate as (
            select coalesce(bool_or(seen), false) as seen, coalesce(bool_or(locked and not seen), false) as locked
            from email_row
          ), ip as (
            insert into ${rateLimits} as r (key, hits, window_started_at)
            select ${key}, 1, now() from gate where not gate.seen and not gate.locked
            on conflict (key) do update set
              hits = case when ${ipExpired} then 1 else r.hits + 1 end,
              window_started_at = case when ${ipExpired} then now() else r.window_started_at end
            where ${ipExpired} or r.hits < ${policy.ipMaxFailures}
            returning r.window_started_at
          ), attempt as (
            insert into ${loginAttempts} as a (email, failures, window_started_at, locked_until, recent_attempts)
            select ${email}, 1, now(), ${lockFrom(sql`1`)}, array[${id}::uuid] from gate
            where gate.seen or gate.locked or exists (select 1 from ip)
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
          ), held as (
            select window_started_at,
              ceil(extract(epoch from window_started_at + ${ipWindow} - now()))::int as retry_after
            from ${rateLimits} where key = ${key}
          )
          select ${userColumns('u')}, attempt.failures as number, case
              when attempt.failures is null
                then greatest(1, coalesce((select retry_after from held), ${policy.ipWindowSeconds}))
              when attempt.failures > ${policy.maxFailures}
                then greatest(1, ceil(extract(epoch from attempt.locked_until - now()))::int)
            end as refused_for,
            case
              when exists (select 1 from ip) then (select window_started_at::text from ip)
              -- A retry of an attempt that was checked: its place was taken by the first run.
              when gate.seen and attempt.failures <= ${policy.maxFailures}
                then (select window_started_at::text from held)
            end as reservation
          from gate left join attempt on true left join ${users} u on u.email = ${email}`)
        .catch((error: unknown) => {
          // No place within lock_timeout: the email's row (or the address's) is held by a queue of attempts arriving
          // at once. Refused unchecked, as past the limit (nothing was counted: the statement rolled back), not a 503.
          if (sqlState(error) === LOCK_NOT_AVAILABLE) return 'queued' as const
          return rethrowUnavailable(error)
        })
      if (result === 'queued')
        return { id, email, user: null, refusedForSeconds: 1, number: 0, reservation: null }
      const row = result.rows[0]
      return {
        id,
        email,
        user: row?.id == null ? null : toUserRecord(row),
        refusedForSeconds: row?.refused_for ?? null,
        number: row?.number ?? 0,
        reservation: row?.reservation ?? null,
      }
    },

    async recordFailure(attempt, context) {
      const userId = sql`${attempt.user?.id ?? null}::int`
      // The failure's event is keyed by the attempt: a retried statement inserts nothing. The address counted the
      // attempt when `begin` gave it its place.
      await db
        .execute(sql`
          with failure_event as (
            ${eventInsert('login_failure', context, { userId, email: sql`${attempt.email}`, key: `failure:${attempt.id}` })}
            returning id
          )
          ${eventInsert('lockout', context, {
            userId,
            email: sql`${attempt.email}`,
            from: sql`from failure_event where ${attempt.number} = ${policy.maxFailures}`,
          })}`)
        .catch(rethrowUnavailable)
    },

    async release(attempt, context) {
      if (attempt.reservation === null) return
      // The attempt's id leaves the email's recent attempts as its place goes back: a retried statement finds it gone
      // and gives nothing back twice. The email's row is locked before the address's, as in `begin`.
      await db
        .execute(sql`
          with mine as (
            update ${loginAttempts} set recent_attempts = array_remove(recent_attempts, ${attempt.id}::uuid)
            where email = ${attempt.email} and ${attempt.id}::uuid = any(recent_attempts)
            returning email
          )
          update ${rateLimits} set hits = greatest(hits - 1, 0)
          where key = ${ipKey(context.sourceIp)} and window_started_at = ${attempt.reservation}::timestamptz
            and exists (select 1 from mine)`)
        .catch(rethrowUnavailable)
    },

    async succeeded(attempt, context) {
      await db
        .execute(sql`
          with mine as (
            delete from ${loginAttempts} where email = ${attempt.email} and ${attempt.id}::uuid = any(recent_attempts)
            returning email
          )
          update ${rateLimits} set hits = greatest(hits - 1, 0)
          where key = ${ipKey(context.sourceIp)} and window_started_at = ${attempt.reservation}::timestamptz
            and exists (select 1 from mine)`)
        .catch(rethrowUnavailable)
    },

    async startSession(session, context) {
      const user = session.user
      // The session matters until its first token expires (never past its lifetime), or until a rotation or an end
      // sets that again: its expiry is the token's, for the cleanup's index.
      const expiry = sql`least(${session.refreshTokenExpiresAt.toISOString()}::timestamptz, now() + ${seconds(sessionPolicy.maxAgeSeconds)})`
      const turn = turnKey(user.id)
      // Everything hangs on the session's insert: a retried statement finds the id taken and changes nothing. The
      // insert needs the account active at the credential version the password was checked against, read under a
      // share lock on its row: a reset or change that updated the row first makes this login start nothing; one that
      // comes after waits for this statement, then revokes the session it made. Another login's rehash keeps the
      // version, so concurrent logins never refuse each other; and nothing here writes the row, so none deadlock.
      // The user's logins take turns on a counter row (`turn`), so that each ends the oldest sessions past the cap
      // after the one before it committed. The sessions it sees are those of its snapshot, taken when the statement
      // began: a login that committed after that, while this one waited for its turn, is one it cannot see, and the
      // counter says so (it moved by more than this login's own step); then a second statement, with a snapshot that
      // sees them all, ends what is still past the cap.
      const result = await db
        .execute<{ started: boolean; contended: boolean }>(sql`
          with account as (
            select id from ${users}
            where id = ${user.id} and is_active and credential_version = ${user.credentialVersion}
            for share
          ), seen_turn as (
            select hits from ${rateLimits} where key = ${turn}
          ), turn as (
            insert into ${rateLimits} as r (key, hits, window_started_at)
            select ${turn}, 1, now() from account
            where not exists (select 1 from ${sessions} where id = ${session.id}::uuid)
            on conflict (key) do update set hits = r.hits + 1, window_started_at = now()
            returning r.hits
          ), started as (
            insert into ${sessions} (id, user_id, source_ip, user_agent, expires_at)
            select ${session.id}, id, ${context.sourceIp || null}, ${context.userAgent.slice(0, 512) || null}, ${expiry}
            from account where exists (select 1 from turn)
            on conflict (id) do nothing
            returning id
          ), first_token as (
            insert into ${refreshTokens} (token_hash, session_id, expires_at)
            select ${session.refreshTokenHash}, id, ${expiry}
            from started
          ), ${pastCap(user.id, sessionPolicy.maxPerUser - 1, context, sql`exists (select 1 from started)`)}, cleared as (
            delete from ${loginAttempts} where email = ${user.email} and exists (select 1 from started)
            returning email
          ), ${
            session.reservation === null
              ? sql``
              : // After the email's row, as begin locks them; the place was taken in the window it names, and goes back
                // only to that window.
                sql`released as (
                  update ${rateLimits} set hits = greatest(hits - 1, 0)
                  where key = ${ipKey(context.sourceIp)} and window_started_at = ${session.reservation}::timestamptz
                    and exists (select 1 from started) and (select count(*) from cleared) >= 0
                ), `
          }login_event as (
            ${eventInsert('login_success', context, { userId: sql`${user.id}::int`, email: sql`${user.email}`, from: sql`from started` })}
          )
          select exists (select 1 from started)
              or exists (select 1 from ${sessions} where id = ${session.id}::uuid) as started,
            exists (select 1 from started)
              and (select hits from turn) <> coalesce((select hits from seen_turn), 0) + 1 as contended`)
        .catch(rethrowUnavailable)
      const row = result.rows[0]
      if (row?.contended) {
        // Every login that took its turn before this one has committed: this snapshot sees their sessions. Best
        // effort: the session has started either way, and the user's next login ends what this one could not.
        await db
          .execute(sql`with ${pastCap(user.id, sessionPolicy.maxPerUser, context, sql`true`)} select 1`)
          .catch(() => undefined)
      }
      return row?.started === true
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
