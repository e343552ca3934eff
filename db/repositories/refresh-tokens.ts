import { and, eq, gt, inArray, isNotNull, isNull, sql } from 'drizzle-orm'
import type { Database } from '../client.ts'
import { rethrowUnavailable } from '../errors.ts'
import { refreshTokens, type UserRow, users } from '../schema.ts'

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
   * in one statement; the user, or `null` when the token was not live. Row locking makes concurrent uses of one
   * token yield at most one success.
   */
  rotate(hash: string, next: { hash: string; expiresAt: Date }): Promise<UserRow | null>
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
      const retired = db.$with('retired').as(
        db
          .update(refreshTokens)
          .set({ retiredAt: sql`now()` })
          .from(users)
          .where(
            and(
              eq(refreshTokens.tokenHash, hash),
              isNull(refreshTokens.retiredAt),
              isNull(refreshTokens.revokedAt),
              gt(refreshTokens.expiresAt, sql`now()`),
              eq(users.id, refreshTokens.userId),
              eq(users.isActive, true),
            ),
          )
          .returning({ familyId: refreshTokens.familyId, userId: refreshTokens.userId }),
      )
      const successor = db.$with('successor').as(
        db
          .insert(refreshTokens)
          .select(
            db
              .select({
                tokenHash: sql`${next.hash}`.as('token_hash'),
                familyId: retired.familyId,
                userId: retired.userId,
                expiresAt: sql`${next.expiresAt.toISOString()}::timestamptz`.as('expires_at'),
              })
              .from(retired),
          )
          .returning({ userId: refreshTokens.userId }),
      )
      const [row] = await db
        .with(retired, successor)
        .select({ user: users })
        .from(users)
        .innerJoin(successor, eq(users.id, successor.userId))
        .catch(rethrowUnavailable)
      return row?.user ?? null
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
