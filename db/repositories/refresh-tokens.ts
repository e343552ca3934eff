import { sql } from 'drizzle-orm'
import type { RefreshTokenRepository } from '#shared/domain/ports'
import type { RequestContext } from '#shared/domain/users'
import type { Database } from '../client.ts'
import { rethrowUnavailable } from '../errors.ts'
import { refreshTokens, users } from '../schema.ts'
import { eventInsert } from './rows.ts'

/** The refresh-token port: each operation one statement with its audit event. */
export function createRefreshTokenRepository(db: Database) {
  const t = refreshTokens

  /** One statement: find the family of `hash` (optionally only if retired), revoke its live members, audit. */
  const revoke = async (hash: string, retiredOnly: boolean, context: RequestContext) => {
    const type = retiredOnly ? 'refresh_reuse_detected' : 'logout'
    const result = await db
      .execute<{ found: boolean }>(sql`
        with family as (
          select family_id, user_id from ${t}
          where token_hash = ${hash} ${retiredOnly ? sql`and retired_at is not null` : sql.empty()}
        ), revoked as (
          update ${t} set revoked_at = now()
          where family_id in (select family_id from family) and revoked_at is null
          returning id
        ), revoke_event as (
          ${eventInsert(type, context, { userId: sql`family.user_id`, email: sql`null`, from: sql`from family` })}
        )
        select exists (select 1 from family) as found`)
      .catch(rethrowUnavailable)
    return result.rows[0]?.found === true
  }

  return {
    async rotate(hash, next, context) {
      // Written as SQL because drizzle's insert … select wants every column of the table, in order.
      const result = await db
        .execute<{ user_id: number }>(sql`
          with retired as (
            update ${t} set retired_at = now()
            from ${users}
            where ${t}.token_hash = ${hash} and ${t}.retired_at is null and ${t}.revoked_at is null
              and ${t}.expires_at > now() and ${users}.id = ${t}.user_id and ${users}.is_active
            returning ${t}.family_id, ${t}.user_id
          ), successor as (
            insert into ${t} (token_hash, family_id, user_id, expires_at)
            select ${next.hash}, family_id, user_id, ${next.expiresAt.toISOString()}::timestamptz from retired
            returning user_id
          ), refresh_event as (
            ${eventInsert('refresh', context, { userId: sql`retired.user_id`, email: sql`null`, from: sql`from retired` })}
          )
          select user_id from successor`)
        .catch(rethrowUnavailable)
      const userId = result.rows[0]?.user_id
      return userId === undefined ? null : { userId }
    },

    revokeFamilyIfRetired: (hash, context) => revoke(hash, true, context),

    async revokeFamily(hash, context) {
      await revoke(hash, false, context)
    },
  } satisfies RefreshTokenRepository
}
