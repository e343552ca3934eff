import { sql } from 'drizzle-orm'
import type { ErasureRepository } from '#shared/domain/ports'
import type { Database } from '../client.ts'
import { rethrowUnavailable } from '../errors.ts'
import { auditedRequest } from './rows.ts'

/**
 * Erases accounts through `erase_account` (migration 0017): the API's role may not delete users or rewrite the audit
 * trail itself, only run the one function that does exactly the erasure.
 */
export function createErasureRepository(db: Database) {
  return {
    async erase({ userId, actorId, noticeId }, context) {
      const { sourceIp, userAgent } = auditedRequest(context)
      const result = await db
        .execute<{ outcome: 'erased' | 'not_found' | 'last_superuser' }>(
          sql`select erase_account(${userId}::int, ${actorId}::int, ${noticeId}::uuid,
            ${sourceIp}::varchar, ${userAgent}::varchar) as outcome`,
        )
        .catch(rethrowUnavailable)
      return result.rows[0]?.outcome ?? 'not_found'
    },
  } satisfies ErasureRepository
}
