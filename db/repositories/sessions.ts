import { sql } from 'drizzle-orm'
import type { SessionPolicy, SessionRepository } from '#shared/domain/ports'
import type { RequestContext } from '#shared/domain/users'
import type { Database } from '../client.ts'
import { rethrowUnavailable } from '../errors.ts'
import {
  emailCodes,
  loginAttempts,
  passwordResetTokens,
  refreshTokens,
  securityEvents,
  sessions,
  users,
} from '../schema.ts'
import {
  eventInsert,
  passwordChangedNotice,
  revokeSessionsBefore,
  seconds,
  toUserRecord,
  type UserRow,
  userColumns,
} from './rows.ts'

type RevokeReason = 'logout' | 'reuse'

/** Why a session ended other than by its own token: its user ended it, or changed the password elsewhere. */
const ENDED_BY_USER = 'user'
const ENDED_BY_PASSWORD_CHANGE = 'password_change'

/**
 * Sessions and their refresh tokens. Revocation marks the session row, and a rotation updates that same row first,
 * so the two queue on its lock: a refresh racing a logout either finishes before it (and its successor dies with
 * the session) or sees the session revoked.
 */
/** The audit event of each session a statement's `revoked` CTE ended, once per session (a retry records nothing). */
const endedEvents = (context: RequestContext) =>
  eventInsert('session_ended', context, {
    userId: sql`revoked.user_id`,
    email: sql`null`,
    from: sql`from revoked`,
    key: sql`'session_ended:' || revoked.id`,
  })

export function createSessionRepository(db: Database, policy: SessionPolicy) {
  const maxAge = seconds(policy.maxAgeSeconds)
  const live = sql`s.revoked_at is null and s.created_at > now() - ${maxAge}`
  /**
   * Token `t` may rotate: unretired, or retired within the reuse interval (when there is one). Checked again on the
   * token's locked row, so a use that waited for a concurrent rotation sees that rotation's `retired_at`.
   */
  const rotatable =
    policy.reuseIntervalSeconds > 0
      ? sql`(t.retired_at is null or t.retired_at > now() - ${seconds(policy.reuseIntervalSeconds)})`
      : sql`t.retired_at is null`

  /** Revokes the session of the token `hash` (only when that token was retired, for a replay), with its event. */
  const revoke = async (hash: string, reason: RevokeReason, context: RequestContext) => {
    const result = await db
      .execute<{ found: boolean }>(sql`
        with target as (
          select session_id from ${refreshTokens}
          where token_hash = ${hash} ${reason === 'reuse' ? sql`and retired_at is not null` : sql.empty()}
        ), revoked as (
          update ${sessions} set revoked_at = now(), revoked_reason = ${reason}, expires_at = now()
          where id in (select session_id from target) and revoked_at is null
          returning id, user_id
        ), revoke_event as (
          ${
            reason === 'reuse'
              ? eventInsert('refresh_reuse_detected', context, {
                  userId: sql`revoked.user_id`,
                  email: sql`null`,
                  from: sql`from revoked`,
                })
              : // Every logout of a known token is recorded, once per session (repeating it records nothing).
                eventInsert('logout', context, {
                  userId: sql`s.user_id`,
                  email: sql`null`,
                  from: sql`from target join ${sessions} s on s.id = target.session_id`,
                  key: sql`'logout:' || target.session_id`,
                })
          }
        )
        select exists (select 1 from target) as found`)
      .catch(rethrowUnavailable)
    return result.rows[0]?.found === true
  }

  return {
    async rotate(hash, next, context) {
      // The successor's expiry, which the session's becomes: it matters as long as its live token does.
      const expiry = sql`least(${next.expiresAt.toISOString()}::timestamptz, s.created_at + ${maxAge})`
      // `done` finds a successor this very rotation stored already (a retry after a lost answer): answered as then.
      const result = await db
        .execute<{
          user_id: number
          session_id: string
          started_at: Date | string
          email_verified: boolean
        }>(sql`
          with target as (
            select session_id from ${refreshTokens} t
            where t.token_hash = ${hash} and ${rotatable} and t.expires_at > now()
          ), done as (
            select s.user_id, s.id as session_id, s.created_at, u.email_verified from ${refreshTokens} t
            join ${sessions} s on s.id = t.session_id
            join ${users} u on u.id = s.user_id
            where t.token_hash = ${next.hash}
          ), session as (
            update ${sessions} s set last_used_at = now(), expires_at = ${expiry}
            from ${users} u
            where s.id in (select session_id from target) and not exists (select 1 from done)
              and ${live} and u.id = s.user_id and u.is_active
            returning s.id, s.user_id, s.expires_at, s.created_at, u.email_verified
          ), retired as (
            -- Within the reuse interval a retired token keeps its first retirement's time: the interval never grows.
            update ${refreshTokens} t set retired_at = coalesce(t.retired_at, now())
            from session
            where t.token_hash = ${hash} and t.session_id = session.id and ${rotatable}
            returning session.id as session_id, session.user_id, session.expires_at, session.created_at,
              session.email_verified
          ), successor as (
            insert into ${refreshTokens} (token_hash, session_id, expires_at)
            select ${next.hash}, session_id, expires_at
            from retired
          ), refresh_event as (
            ${eventInsert('refresh', context, { userId: sql`retired.user_id`, email: sql`null`, from: sql`from retired` })}
          )
          select user_id, session_id, created_at as started_at, email_verified from retired
          union all select user_id, session_id, created_at, email_verified from done`)
        .catch(rethrowUnavailable)
      const row = result.rows[0]
      return row
        ? {
            userId: row.user_id,
            sessionId: row.session_id,
            startedAt: new Date(row.started_at),
            emailVerified: row.email_verified === true,
          }
        : null
    },

    revokeIfReplayed: (hash, context) => revoke(hash, 'reuse', context),

    async revoke(hash, context) {
      await revoke(hash, 'logout', context)
    },

    async findUser(userId, sessionId) {
      const session = sessionId
        ? sql`and exists (select 1 from ${sessions} s where s.id = ${sessionId}::uuid and s.user_id = u.id and ${live})`
        : sql.empty()
      const result = await db
        .execute<UserRow>(
          sql`select ${userColumns('u')} from ${users} u where u.id = ${userId} and u.is_active ${session}`,
        )
        .catch(rethrowUnavailable)
      const row = result.rows[0]
      return row ? toUserRecord(row) : null
    },

    async list(userId) {
      // Bounded by the cap a login enforces, also while more live than it (sessions started before it was lowered).
      const result = await db
        .execute<{
          id: string
          created_at: Date | string
          last_used_at: Date | string
          source_ip: string | null
          user_agent: string | null
        }>(sql`
          select s.id, s.created_at, s.last_used_at, s.source_ip, s.user_agent from ${sessions} s
          where s.user_id = ${userId} and ${live}
          order by s.created_at desc, s.id
          limit ${policy.maxPerUser}`)
        .catch(rethrowUnavailable)
      return result.rows.map((row) => ({
        id: row.id,
        createdAt: new Date(row.created_at),
        lastUsedAt: new Date(row.last_used_at),
        sourceIp: row.source_ip,
        userAgent: row.user_agent,
      }))
    },

    async end(userId, sessionId, context) {
      // Keyed by the session: ending it again (a retry, a second click) records nothing more.
      const result = await db
        .execute<{ found: boolean }>(sql`
          with target as (
            select s.id from ${sessions} s where s.id = ${sessionId}::uuid and s.user_id = ${userId}
          ), revoked as (
            update ${sessions} s set revoked_at = now(), revoked_reason = ${ENDED_BY_USER}, expires_at = now()
            where s.id in (select id from target) and s.revoked_at is null
            returning s.id, s.user_id
          ), end_event as (
            ${endedEvents(context)}
          )
          select exists (select 1 from target) as found`)
        .catch(rethrowUnavailable)
      return result.rows[0]?.found === true
    },

    async endAll(userId, context) {
      // "Log out everywhere" ends what a stolen session could have started too: the account's outstanding reset links.
      await db
        .execute(sql`
          with revoked as (
            update ${sessions} s set revoked_at = now(), revoked_reason = ${ENDED_BY_USER}, expires_at = now()
            where s.user_id = ${userId} and ${live}
            returning s.id, s.user_id
          ), links_void as (
            update ${users} set links_revoked_at = clock_timestamp() where id = ${userId}
          ), voided as (
            delete from ${passwordResetTokens} where user_id = ${userId}
          ), codes_voided as (
            delete from ${emailCodes} where user_id = ${userId}
          ), end_event as (
            ${endedEvents(context)}
          )
          select count(*) from revoked`)
        .catch(rethrowUnavailable)
    },

    async changePassword(change, context) {
      const key = `password_changed:${change.id}`
      // Compare-and-set on the credential version that was verified: of two concurrent changes the second finds it
      // moved and changes nothing (its session, if another, is revoked by the first); the users row's lock orders
      // them. A login's rehash keeps the version, so it never turns a right current password into a wrong one.
      const keptLive = change.sessionId
        ? sql`and exists (select 1 from ${sessions} s where s.id = ${change.sessionId}::uuid and s.user_id = u.id and ${live})`
        : sql.empty()
      const others = change.sessionId ? sql`and s.id <> ${change.sessionId}::uuid` : sql.empty()
      const result = await db
        .execute<{ changed: boolean; changed_at: string | null }>(sql`
          with changed as (
            update ${users} u set hashed_password = ${change.hash}, password_carried_over = false,
              credential_version = u.credential_version + 1, links_revoked_at = clock_timestamp()
            where u.id = ${change.user.id} and u.is_active
              and u.credential_version = ${change.user.credentialVersion} ${keptLive}
            returning u.id, u.email, clock_timestamp()::text as changed_at
          ), done as (
            select 1 from ${securityEvents} where event_key = ${key}
          ), revoked as (
            update ${sessions} s set revoked_at = now(), revoked_reason = ${ENDED_BY_PASSWORD_CHANGE}, expires_at = now()
            from changed where s.user_id = changed.id and s.revoked_at is null ${others}
            returning s.id
          ), cleared as (
            delete from ${loginAttempts} where email in (select email from changed)
          ), voided as (
            delete from ${passwordResetTokens} where user_id in (select id from changed)
          ), codes_voided as (
            delete from ${emailCodes} where user_id in (select id from changed)
          ), notice as (
            ${passwordChangedNotice(change.noticeId)}
          ), change_event as (
            ${eventInsert('password_changed', context, {
              userId: sql`changed.id`,
              email: sql`changed.email`,
              from: sql`from changed`,
              key,
            })}
          )
          select exists (select 1 from changed) or exists (select 1 from done) as changed,
            (select changed_at from changed) as changed_at`)
        .catch(rethrowUnavailable)
      const row = result.rows[0]
      if (row?.changed_at) {
        await db
          .execute(
            revokeSessionsBefore(change.user.id, row.changed_at, ENDED_BY_PASSWORD_CHANGE, change.sessionId),
          )
          .catch(rethrowUnavailable)
      }
      return row?.changed === true
    },
  } satisfies SessionRepository
}
