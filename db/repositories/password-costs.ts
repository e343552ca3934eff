import { sql } from 'drizzle-orm'
import type { PasswordCostRepository } from '#shared/domain/ports'
import type { Database } from '../client.ts'
import { rethrowUnavailable } from '../errors.ts'
import { passwordCostOf, users } from '../schema.ts'

/**
 * The highest stored cost: spelled as `users_password_cost_idx` is, so PostgreSQL answers `max()` by reading the
 * index's last entry that is not null (`test/integration/password-cost.test.ts` asks for the plan).
 */
export const HIGHEST_STORED_COST = sql`select max(${passwordCostOf(users.hashedPassword)}) as cost from ${users}`

/** The costs of the stored password hashes, for the hasher that makes every check cost the same. */
export function createPasswordCostRepository(db: Database) {
  return {
    async highestStoredCost() {
      const result = await db.execute<{ cost: string | null }>(HIGHEST_STORED_COST).catch(rethrowUnavailable)
      const cost = result.rows[0]?.cost
      return cost == null ? null : Number(cost)
    },
  } satisfies PasswordCostRepository
}
