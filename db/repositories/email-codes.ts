import { type SQL, sql } from 'drizzle-orm'
import type { EmailCodeRepository, PasswordResetPolicy } from '#shared/domain/ports'
import type { Database } from '../client.ts'
import { rethrowUnavailable, sqlState, violatedConstraint } from '../errors.ts'
import { emailCodes, mailOutbox, sessions, users } from '../schema.ts'
import { limitedMailRequest } from './mail-requests.ts'
import { eventInsert, toUserRecord, type UserRow, userColumns } from './rows.ts'

/** Wrong guesses a code allows: the fifth deletes it. */
export const EMAIL_CODE_MAX_TRIES = 5

/** Why the other sessions of an email change ended (`sessions.revoked_reason`). */
const ENDED_BY_EMAIL_CHANGE = 'email_changed'

/**
 * `c.code_hash` as the mail sender made it from the code it mailed (`hashEmailCode`): the hex SHA-256 of
 * `<user id>:<code>`, computed here from the code the caller typed, so the comparison happens in the statement.
 */
const codeMatches = (code: string): SQL =>
  sql`c.code_hash = encode(sha256(convert_to(c.user_id::text || ':' || ${code}, 'UTF8')), 'hex')`

/**
 * The live code (`c`) of `purpose` that `who` (a condition over `u` and `c`) names, locked, with whether `code` is
 * it; then the three outcomes, each on its own rows (`target.matches` splits them): a match deletes it (`used`), a
 * miss counts a try (`missed`), and the miss that reaches the limit deletes it (`exhausted`). A confirmation that
 * waited for another's lock sees that one's result (the row gone, or its tries counted): of concurrent
 * confirmations with one code one succeeds, and no more than the limit of guesses are ever checked.
 */
const checkedCode = (purpose: 'verify' | 'change', who: SQL, code: string): SQL => sql`
  target as (
    select c.user_id, c.new_email, c.tries, ${codeMatches(code)} as matches
    from ${emailCodes} c join ${users} u on u.id = c.user_id
    where ${who} and c.purpose = ${purpose} and u.is_active and c.expires_at > now()
      and c.tries < ${EMAIL_CODE_MAX_TRIES}::int and c.requested_at > coalesce(u.links_revoked_at, '-infinity')
    for update of c
  ), used as (
    delete from ${emailCodes} c using target
    where c.user_id = target.user_id and c.purpose = ${purpose} and target.matches
    returning c.user_id, c.new_email
  ), missed as (
    update ${emailCodes} c set tries = c.tries + 1 from target
    where c.user_id = target.user_id and c.purpose = ${purpose} and not target.matches
      and target.tries + 1 < ${EMAIL_CODE_MAX_TRIES}::int
    returning c.user_id
  ), exhausted as (
    delete from ${emailCodes} c using target
    where c.user_id = target.user_id and c.purpose = ${purpose} and not target.matches
      and target.tries + 1 >= ${EMAIL_CODE_MAX_TRIES}::int
    returning c.user_id
  )`

/** Email verification and email change codes: their requests (counted as reset requests are) and confirmations. */
export function createEmailCodeRepository(
  db: Database,
  policy: Pick<PasswordResetPolicy, 'emailLimit' | 'ipLimit' | 'windowSeconds'>,
) {
  const failedEvent = (context: Parameters<typeof eventInsert>[1]) =>
    eventInsert('email_code_failed', context, {
      userId: sql`x.user_id`,
      email: sql`null`,
      from: sql`from (select user_id from missed union all select user_id from exhausted) x`,
    })

  return {
    requestVerification: ({ id, email, emailKey }, context) =>
      limitedMailRequest(
        db,
        policy,
        {
          id,
          email,
          emailKey,
          keyPrefix: 'email-verification',
          event: 'email_verification',
          job: 'email_verification',
          account: sql`u.email = ${email} and u.is_active and not u.email_verified`,
        },
        context,
      ),

    requestChange: (userId, { id, email, emailKey }, context) =>
      limitedMailRequest(
        db,
        policy,
        {
          id,
          email,
          emailKey,
          keyPrefix: 'email-verification',
          event: 'email_change',
          job: 'email_change',
          // No code to an address that is already an account's: the confirmation would refuse it anyway.
          account: sql`u.id = ${userId} and u.is_active
            and not exists (select 1 from ${users} taken where taken.email = ${email})`,
          recipient: email,
        },
        context,
      ),

    async confirmVerification(email, code, context) {
      const result = await db
        .execute<UserRow>(sql`
          with ${checkedCode('verify', sql`u.email = ${email}`, code)}, verified as (
            update ${users} u set email_verified = true from used where u.id = used.user_id
            returning ${userColumns('u')}
          ), verified_event as (
            ${eventInsert('email_verified', context, {
              userId: sql`verified."id"`,
              email: sql`verified."email"`,
              from: sql`from verified`,
            })}
          ), failed_event as (${failedEvent(context)})
          select * from verified`)
        .catch(rethrowUnavailable)
      const row = result.rows[0]
      return row ? toUserRecord(row) : null
    },

    async confirmChange({ userId, sessionId, code, noticeId }, context) {
      try {
        const result = await db
          .execute<UserRow>(sql`
            with ${checkedCode('change', sql`u.id = ${userId}`, code)}, old as (
              select u.id, u.email from ${users} u join used on used.user_id = u.id
            ), moved as (
              update ${users} u set email = used.new_email, email_verified = true,
                credential_version = u.credential_version + 1, links_revoked_at = clock_timestamp()
              from used where u.id = used.user_id
                and not exists (select 1 from ${users} taken where taken.email = used.new_email)
              returning ${userColumns('u')}
            ), codes_voided as (
              delete from ${emailCodes} c using moved where c.user_id = moved."id"
            ), revoked as (
              update ${sessions} s set revoked_at = now(), revoked_reason = ${ENDED_BY_EMAIL_CHANGE},
                expires_at = now()
              from moved where s.user_id = moved."id" and s.revoked_at is null
                and s.id is distinct from ${sessionId}::uuid
            ), notice as (
              insert into ${mailOutbox} (id, kind, user_id, recipient)
              select ${noticeId}::uuid, 'email_changed', old.id, old.email from old, moved
              on conflict (id) do nothing
            ), changed_event as (
              ${eventInsert('email_changed', context, {
                userId: sql`moved."id"`,
                email: sql`moved."email"`,
                from: sql`from moved`,
              })}
            ), failed_event as (${failedEvent(context)})
            select exists (select 1 from used) as used, m.* from (select 1) one left join moved m on true`)
          .catch(rethrowUnavailable)
        const { used, ...row } = (result.rows[0] ?? { used: false }) as UserRow & { used: boolean }
        if (!used) return null
        return row.id == null ? 'taken' : toUserRecord(row)
      } catch (error) {
        // The new address registered between the check and the update: the same answer as found taken.
        if (sqlState(error) === '23505' && violatedConstraint(error) === 'users_email_key') return 'taken'
        throw error
      }
    },
  } satisfies EmailCodeRepository
}
