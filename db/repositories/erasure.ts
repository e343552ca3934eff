import { sql } from 'drizzle-orm'
import type { ErasureRepository, PasswordResetPolicy } from '#shared/domain/ports'
import type { Database } from '../client.ts'
import { rethrowUnavailable } from '../errors.ts'
import { limitedMailRequest } from './mail-requests.ts'
import { auditedRequest } from './rows.ts'

/**
 * Erases accounts through `erase_account` and `erase_account_by_link` (migrations 0017, 0021): the API's role may not
 * delete users or rewrite the audit trail itself, only run the functions that do exactly the erasure. Deletion links
 * are requested as reset links are, with counters of their own.
 */
export function createErasureRepository(
  db: Database,
  policy: Pick<PasswordResetPolicy, 'emailLimit' | 'ipLimit' | 'windowSeconds'>,
) {
  return {
    async erase({ userId, actorId, noticeId, notify, checked }, context) {
      const { sourceIp, userAgent } = auditedRequest(context)
      const result = await db
        .execute<{ outcome: 'erased' | 'not_found' | 'last_superuser' | 'stale' }>(
          sql`select erase_account(${userId}::int, ${actorId}::int, ${noticeId}::uuid,
            ${sourceIp}::varchar, ${userAgent}::varchar, ${checked?.sessionId ?? null}::uuid,
            ${checked?.credentialVersion ?? null}::int, ${notify}::boolean) as outcome`,
        )
        .catch(rethrowUnavailable)
      return result.rows[0]?.outcome ?? 'not_found'
    },

    async eraseByLink({ tokenHash, noticeId, notify }, context) {
      const { sourceIp, userAgent } = auditedRequest(context)
      const result = await db
        .execute<{ outcome: 'erased' | 'invalid' | 'last_superuser' | 'not_found' }>(
          sql`select erase_account_by_link(${tokenHash}, ${noticeId}::uuid, ${sourceIp}::varchar,
            ${userAgent}::varchar, ${notify}::boolean) as outcome`,
        )
        .catch(rethrowUnavailable)
      const outcome = result.rows[0]?.outcome
      return outcome === 'erased' || outcome === 'last_superuser' ? outcome : 'invalid'
    },

    requestLink: ({ id, email, emailKey }, context) =>
      limitedMailRequest(
        db,
        policy,
        {
          id,
          email,
          emailKey,
          keyPrefix: 'account-deletion',
          event: 'account_deletion',
          job: 'account_deletion',
          account: sql`u.email = ${email} and u.is_active`,
        },
        context,
      ),
  } satisfies ErasureRepository
}
