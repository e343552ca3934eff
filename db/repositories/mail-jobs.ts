import { sql } from 'drizzle-orm'
import type { MailJobRepository, MailKind } from '#shared/domain/ports'
import type { Database } from '../client.ts'
import { rethrowUnavailable } from '../errors.ts'
import { accountDeletionTokens, emailCodes, mailOutbox, passwordResetTokens, users } from '../schema.ts'
import { eventInsert, seconds } from './rows.ts'

/** Jobs run by no request: their events name no source address or user agent. */
const NO_REQUEST = { sourceIp: '', userAgent: '' }

/** The mail jobs the `send-mail` function runs: what to send, the reset link's hash, how each job ended. */
export function createMailJobRepository(db: Database) {
  return {
    async load(jobId) {
      const result = await db
        .execute<{
          id: string
          kind: MailKind
          user_id: number | null
          email: string
          is_active: boolean
          created_at: Date | string
          settled: boolean
        }>(sql`
          select o.id, o.kind, o.user_id, coalesce(o.recipient, u.email) as email,
            coalesce(u.is_active, o.recipient is not null) as is_active, o.created_at,
            o.settled_at is not null as settled
          from ${mailOutbox} o left join ${users} u on u.id = o.user_id
          where o.id = ${jobId}::uuid and (u.id is not null or o.recipient is not null)`)
        .catch(rethrowUnavailable)
      const row = result.rows[0]
      return row
        ? {
            id: row.id,
            kind: row.kind,
            userId: row.user_id,
            email: row.email,
            userActive: row.is_active,
            createdAt: new Date(row.created_at),
            settled: row.settled,
          }
        : null
    },

    async issueLinkToken(job, tokenHash, ttlSeconds) {
      const links = job.kind === 'account_deletion' ? accountDeletionTokens : passwordResetTokens
      // Everything is read from the job's own row (its request time to the microsecond), in one statement: a newer
      // request of the user's voids this one, and an older link never replaces a newer one, whatever the order in
      // which their mails are sent.
      const result = await db
        .execute<{ outcome: 'issued' | 'superseded' | 'expired' }>(sql`
          with job as (
            select o.id, o.user_id, o.created_at, o.created_at + ${seconds(ttlSeconds)} as expires_at
            from ${mailOutbox} o where o.id = ${job.id}::uuid
          ), newer as (
            select 1 from ${mailOutbox} o, job
            where o.user_id = job.user_id and o.kind = ${job.kind} and o.created_at > job.created_at
            -- A password change, a reset or "end all sessions" since the request voids it as a newer request would.
            union all
            select 1 from ${users} u, job
            where u.id = job.user_id and u.links_revoked_at >= job.created_at
          ), issued as (
            insert into ${links} as t (user_id, token_hash, job_id, requested_at, expires_at)
            select user_id, ${tokenHash}, id, created_at, expires_at from job
            where expires_at > now() and not exists (select 1 from newer)
            on conflict (user_id) do update set
              token_hash = excluded.token_hash, job_id = excluded.job_id,
              requested_at = excluded.requested_at, expires_at = excluded.expires_at
            where t.requested_at <= excluded.requested_at
            returning 1
          )
          select case
              when exists (select 1 from issued) then 'issued'
              when exists (select 1 from newer) then 'superseded'
              when exists (select 1 from job where expires_at <= now()) then 'expired'
              else 'superseded'
            end as outcome`)
        .catch(rethrowUnavailable)
      return result.rows[0]?.outcome ?? 'superseded'
    },

    async issueEmailCode(job, purpose, codeHash, ttlSeconds) {
      // As a reset link's: a newer request of the same kind, or the account's links voided since, supersedes it; an
      // older code never replaces a newer one. A verification code for an address verified meanwhile is not sent.
      const result = await db
        .execute<{ outcome: 'issued' | 'superseded' | 'expired' }>(sql`
          with job as (
            select o.id, o.user_id, o.kind, o.recipient, o.created_at,
              o.created_at + ${seconds(ttlSeconds)} as expires_at
            from ${mailOutbox} o where o.id = ${job.id}::uuid
          ), newer as (
            select 1 from ${mailOutbox} o, job
            where o.user_id = job.user_id and o.kind = job.kind and o.created_at > job.created_at
            union all
            select 1 from ${users} u, job
            where u.id = job.user_id and (u.links_revoked_at >= job.created_at
              or (${purpose} = 'verify' and u.email_verified))
          ), issued as (
            insert into ${emailCodes} as c (user_id, purpose, code_hash, new_email, job_id, requested_at, expires_at)
            select user_id, ${purpose}, ${codeHash}, case when ${purpose} = 'change' then recipient end, id,
              created_at, expires_at
            from job
            where expires_at > now() and not exists (select 1 from newer)
            on conflict (user_id, purpose) do update set
              code_hash = excluded.code_hash, new_email = excluded.new_email, job_id = excluded.job_id,
              requested_at = excluded.requested_at, expires_at = excluded.expires_at, tries = 0
            where c.requested_at <= excluded.requested_at
            returning 1
          )
          select case
              when exists (select 1 from issued) then 'issued'
              when exists (select 1 from newer) then 'superseded'
              when exists (select 1 from job where expires_at <= now()) then 'expired'
              else 'superseded'
            end as outcome`)
        .catch(rethrowUnavailable)
      return result.rows[0]?.outcome ?? 'superseded'
    },

    async settle(job, outcome) {
      await db
        .execute(sql`
          with settled as (
            -- A notice to an erased account (no user) keeps its address only until it is settled: then nothing of
            -- the account's email is left anywhere.
            update ${mailOutbox} set settled_at = now(), outcome = ${outcome},
              attempts = attempts + ${outcome === 'sent' ? 1 : 0},
              recipient = case when user_id is null then null else recipient end
            where id = ${job.id}::uuid and settled_at is null
            returning id, user_id
          ), settle_event as (
            ${eventInsert(`${job.kind}_mail_${outcome}`, NO_REQUEST, {
              userId: sql`settled.user_id`,
              email: sql`null`,
              from: sql`from settled`,
              key: sql`'mail_settled:' || settled.id`,
            })}
          )
          select count(*) from settled`)
        .catch(rethrowUnavailable)
    },

    async claim(job, claimSeconds, delivery) {
      // A retry of this very statement (its answer lost) finds the claim its own instead of someone else's.
      const result = await db
        .execute(sql`
          update ${mailOutbox} set claimed_until = now() + ${seconds(claimSeconds)}, claimed_by = ${delivery}::uuid
          where id = ${job.id}::uuid and settled_at is null
            and (claimed_until is null or claimed_until <= now() or claimed_by = ${delivery}::uuid)
          returning id`)
        .catch(rethrowUnavailable)
      return result.rows.length === 1
    },

    async recordFailure(job, delivery) {
      // Only the delivery's own claim: a retried statement finds it released and counts nothing more.
      await db
        .execute(sql`
          with failed as (
            update ${mailOutbox} set attempts = attempts + 1, claimed_until = null, claimed_by = null
            where id = ${job.id}::uuid and settled_at is null and claimed_by = ${delivery}::uuid
            returning user_id
          ), failure_event as (
            ${eventInsert(`${job.kind}_mail_failed`, NO_REQUEST, {
              userId: sql`failed.user_id`,
              email: sql`null`,
              from: sql`from failed`,
              key: `mail_failed:${delivery}`,
            })}
          )
          select count(*) from failed`)
        .catch(rethrowUnavailable)
    },
  } satisfies MailJobRepository
}
