import { type SQL, sql } from 'drizzle-orm'
import type { AdminRepository, AdminUserChanges, AdminUserQuery } from '#shared/domain/ports'
import type { RequestContext } from '#shared/domain/users'
import type { Database } from '../client.ts'
import { rethrowUnavailable } from '../errors.ts'
import { emailCodes, mailOutbox, passwordResetTokens, sessions, users } from '../schema.ts'
import { eventInsert, type SecurityEventType, toUserRecord, type UserRow, userColumns } from './rows.ts'

/** Why an admin ended a session (`sessions.revoked_reason`). */
const ENDED_BY_ADMIN = 'admin'
const ENDED_BY_DEACTIVATION = 'deactivated'

/**
 * One admin action's audit event, for each row of `from`: the target (`user_id`), the superuser who acted
 * (`actor_id`) and what changed (`details`, JSON). No email: the id is enough, and an erasure would have to find it.
 */
const adminEvent = (
  type: SecurityEventType,
  actorId: number,
  context: RequestContext,
  { target, details, from }: { target: SQL; details: SQL; from: SQL },
): SQL => eventInsert(type, context, { userId: target, email: sql`null`, from, actorId, details })

/** `like` pattern of a prefix: its own `%`, `_` and `\` match only themselves. */
const prefixPattern = (prefix: string) => `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`

/**
 * The statement of one page of the admin list: keyset on the id, newest first, so a page never repeats or skips an
 * account because others were added or deleted meanwhile; one row more than asked says whether there is a next page.
 * Each side of a prefix is served by its pattern index (users_email_prefix_idx, users_username_prefix_idx).
 */
export function listStatement({ limit, before, prefix, isActive, isSuperuser }: AdminUserQuery): SQL {
  const filters: SQL[] = []
  if (before !== null) filters.push(sql`u.id < ${before}`)
  if (prefix !== null) {
    const pattern = prefixPattern(prefix)
    filters.push(sql`(u.email like ${pattern} or lower(u.username) like ${pattern})`)
  }
  if (isActive !== null) filters.push(sql`u.is_active = ${isActive}`)
  if (isSuperuser !== null) filters.push(sql`u.is_superuser = ${isSuperuser}`)
  const where = filters.length > 0 ? sql`where ${sql.join(filters, sql` and `)}` : sql.empty()
  return sql`select ${userColumns('u')} from ${users} u ${where} order by u.id desc limit ${limit + 1}`
}

/** The accounts as operators act on them (the `/admin` routes). */
export function createAdminRepository(db: Database) {
  return {
    async list(query) {
      const { limit } = query
      const result = await db.execute<UserRow>(listStatement(query)).catch(rethrowUnavailable)
      const rows = result.rows.map(toUserRecord)
      return { users: rows.slice(0, limit), more: rows.length > limit }
    },

    async find(userId) {
      const result = await db
        .execute<UserRow>(sql`select ${userColumns('u')} from ${users} u where u.id = ${userId}`)
        .catch(rethrowUnavailable)
      const row = result.rows[0]
      return row ? toUserRecord(row) : null
    },

    async update(actorId, userId, changes: AdminUserChanges, context) {
      const isActive = changes.isActive ?? null
      const isSuperuser = changes.isSuperuser ?? null
      // Every active superuser and the target, locked in id order: two admins demoting each other at once queue here,
      // and the second counts the superusers the first left (a row that stopped being one drops out on its lock).
      const result = await db
        .execute<UserRow & { found: boolean; refused: boolean }>(sql`
          with locked as (
            select u.id, u.is_active, u.is_superuser from ${users} u
            where (u.is_superuser and u.is_active) or u.id = ${userId}
            order by u.id
            for update
          ), target as (
            select id, is_active as was_active, is_superuser as was_superuser,
              coalesce(${isActive}::boolean, is_active) as is_active,
              coalesce(${isSuperuser}::boolean, is_superuser) as is_superuser
            from locked where id = ${userId}
          ), guard as (
            select (
              (select count(*) from locked where is_superuser and is_active and id <> ${userId})
              + (select count(*) from target where is_superuser and is_active)
            ) > 0 as keeps_one
          ), changed as (
            update ${users} u set is_active = t.is_active, is_superuser = t.is_superuser
            from target t, guard g
            where u.id = t.id and g.keeps_one
            returning ${userColumns('u')}, t.was_active, t.was_superuser
          ), revoked as (
            update ${sessions} s set revoked_at = now(), revoked_reason = ${ENDED_BY_DEACTIVATION}, expires_at = now()
            from changed c
            where s.user_id = c."id" and not c."isActive" and s.revoked_at is null
            returning s.id
          ), update_event as (
            ${adminEvent('admin_user_updated', actorId, context, {
              target: sql`c."id"`,
              details: sql`jsonb_strip_nulls(jsonb_build_object(
                'is_active', case when c.was_active <> c."isActive" then jsonb_build_array(c.was_active, c."isActive") end,
                'is_superuser', case when c.was_superuser <> c."isSuperuser"
                  then jsonb_build_array(c.was_superuser, c."isSuperuser") end,
                'sessions_ended', case when not c."isActive" then (select count(*) from revoked) end))`,
              // A statement retried after its answer was lost finds nothing left to change, and records nothing.
              from: sql`from changed c where c.was_active <> c."isActive" or c.was_superuser <> c."isSuperuser"`,
            })}
          )
          select exists (select 1 from target) as found, not (select keeps_one from guard) as refused, c.*
          from (select 1) one left join changed c on true`)
        .catch(rethrowUnavailable)
      const row = result.rows[0]
      if (!row?.found) return 'not_found' as const
      if (row.refused) return 'last_superuser' as const
      return toUserRecord(row)
    },

    async endSessions(actorId, userId, context) {
      const result = await db
        .execute<{ found: boolean }>(sql`
          with target as (
            select id from ${users} where id = ${userId}
          ), revoked as (
            update ${sessions} s set revoked_at = now(), revoked_reason = ${ENDED_BY_ADMIN}, expires_at = now()
            from target where s.user_id = target.id and s.revoked_at is null
            returning s.id
          ), links_void as (
            -- As "end all sessions" does: the account's reset links end with its sessions.
            update ${users} u set links_revoked_at = clock_timestamp() from target where u.id = target.id
          ), voided as (
            delete from ${passwordResetTokens} t using target where t.user_id = target.id
          ), codes_voided as (
            delete from ${emailCodes} c using target where c.user_id = target.id
          ), end_event as (
            ${adminEvent('admin_sessions_ended', actorId, context, {
              target: sql`target.id`,
              details: sql`jsonb_build_object('sessions_ended', (select count(*) from revoked))`,
              from: sql`from target`,
            })}
          )
          select exists (select 1 from target) as found`)
        .catch(rethrowUnavailable)
      return result.rows[0]?.found === true
    },

    async requestReset(actorId, userId, jobId, context) {
      const result = await db
        .execute<{ found: boolean; active: boolean | null }>(sql`
          with target as (
            select id, is_active from ${users} where id = ${userId}
          ), job as (
            insert into ${mailOutbox} (id, kind, user_id)
            select ${jobId}::uuid, 'password_reset', id from target where is_active
            on conflict (id) do nothing
            returning user_id
          ), reset_event as (
            ${adminEvent('admin_password_reset_requested', actorId, context, {
              target: sql`target.id`,
              details: sql`jsonb_build_object('job_id', ${jobId}::text)`,
              from: sql`from target where is_active`,
            })}
          )
          select exists (select 1 from target) as found, (select is_active from target) as active`)
        .catch(rethrowUnavailable)
      const row = result.rows[0]
      if (!row?.found) return 'not_found' as const
      return row.active ? ('queued' as const) : ('inactive' as const)
    },
  } satisfies AdminRepository
}
