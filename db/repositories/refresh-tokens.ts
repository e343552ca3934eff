import { and, eq, inArray, isNotNull, isNull, sql } from 'drizzle-orm'
import type { Database } from '../client.ts'
import { rethrowUnavailable } from '../errors.ts'
import { refreshTokens, users } from '../schema.ts'

export interface NewRefreshToken {
  hash: string
  familyId: string
  userId: number
  expiresAt: Date
}

export interface RefreshTokenRepository {
  /**
   * Stores the first token of a new family. When `rehashedPassword` is given, the user's hash is replaced in the
   * same statement (a data-modifying CTE), so a login that upgrades a hash still costs one round trip here.
   */
  insert(token: NewRefreshToken, rehashedPassword?: string): Promise<void>
  /**
   * Retires the live, unexpired token with `hash` (of an active user) and stores its successor in the same family,
   * in one statement; the token's user id, or `null` when the token was not live. Row locking makes concurrent uses of one
   * token yield at most one success.
   */
  rotate(hash: string, next: { hash: string; expiresAt: Date }): Promise<{ userId: number } | null>
  /** Revokes the whole family of a token that was already retired (a replay); true when it was one. */
  revokeFamilyIfRetired(hash: string): Promise<boolean>
  /** Revokes every live token of the family that `hash` belongs to, whatever state that token is in. */
  revokeFamily(hash: string): Promise<void>
}

const familyOf = (db: Database, hash: string, retiredOnly: boolean) =>
  db
    .select({ familyId: refreshTokens.familyId })
    .from(refreshTokens)
    .where(
      retiredOnly
        ? and(eq(refreshTokens.tokenHash, hash), isNotNull(refreshTokens.retiredAt))
        : eq(refreshTokens.tokenHash, hash),
    )

export function createRefreshTokenRepository(db: Database): RefreshTokenRepository {
  const revoke = (hash: string, retiredOnly: boolean) =>
    db
      .update(refreshTokens)
      .set({ revokedAt: sql`now()` })
      .where(
        and(
          inArray(refreshTokens.familyId, familyOf(db, hash, retiredOnly)),
          isNull(refreshTokens.revokedAt),
        ),
      )
      .returning({ id: refreshTokens.id })
      .catch(rethrowUnavailable)

  return {
    async insert(token, rehashedPassword) {
      const row = {
        tokenHash: token.hash,
        familyId: token.familyId,
        userId: token.userId,
        expiresAt: token.expiresAt,
      }
      if (rehashedPassword === undefined) {
        await db.insert(refreshTokens).values(row).catch(rethrowUnavailable)
        return
      }
      const rehash = db
        .$with('rehash')
        .as(
          db
            .update(users)
            .set({ hashedPassword: rehashedPassword })
            .where(eq(users.id, token.userId))
            .returning({ id: users.id }),
        )
      await db.with(rehash).insert(refreshTokens).values(row).catch(rethrowUnavailable)
    },

    async rotate(hash, next) {
      // One statement: retire the live token (row-locked, so concurrent uses of it serialise and all but one find
      // it retired), insert its successor in the same family, and return the user. Written as SQL because
      // drizzle's insert … select wants every column of the table in order.
      const t = refreshTokens
      const result = await db
        .execute<{ user_id: number }>(sql`
          with retired as (
            update ${t} set ${sql.identifier(t.retiredAt.name)} = now()
            from ${users}
            where ${t.tokenHash} = ${hash} and ${t.retiredAt} is null and ${t.revokedAt} is null
              and ${t.expiresAt} > now() and ${users.id} = ${t.userId} and ${users.isActive}
            returning ${t.familyId}, ${t.userId}
          ), successor as (
            insert into ${t} (${sql.identifier(t.tokenHash.name)}, ${sql.identifier(t.familyId.name)}, ${sql.identifier(t.userId.name)}, ${sql.identifier(t.expiresAt.name)})
            select ${next.hash}, family_id, user_id, ${next.expiresAt.toISOString()}::timestamptz from retired
            returning ${sql.identifier(t.userId.name)}
          )
          select ${sql.identifier(t.userId.name)} from successor`)
        .catch(rethrowUnavailable)
      const userId = result.rows[0]?.user_id
      if (userId === undefined) return null
      return { userId }
    },

    async revokeFamilyIfRetired(hash) {
      const revoked = await revoke(hash, true)
      return revoked.length > 0
    },

    async revokeFamily(hash) {
      await revoke(hash, false)
    },
  }
}
