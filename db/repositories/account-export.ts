import { type SQL, sql } from 'drizzle-orm'
import type { AccountExportRepository } from '#shared/domain/ports'
import type { Database } from '../client.ts'
import { rethrowUnavailable } from '../errors.ts'
import { securityEvents, sessions } from '../schema.ts'

/** A session as the statement writes it (JSON: timestamps as ISO text). */
interface SessionJson {
  id: string
  created_at: string
  last_used_at: string
  expires_at: string | null
  revoked_at: string | null
  revoked_reason: string | null
  source_ip: string | null
  user_agent: string | null
}

/** An event as the statement writes it. */
interface EventJson {
  type: string
  created_at: string
  source_ip: string | null
  user_agent: string | null
  email: string | null
  by_administrator: boolean
  details: unknown
}

const dateOrNull = (value: string | null) => (value === null ? null : new Date(value))

/** `type not in (…)`, or nothing to leave out. */
const notOneOf = (column: SQL, values: readonly string[]): SQL =>
  values.length === 0
    ? sql`true`
    : sql`${column} not in (${sql.join(
        values.map((value) => sql`${value}`),
        sql`, `,
      )})`

/**
 * The export's one statement, for `userId` within `query`'s bounds: each kind one row past its limit, which says that
 * older ones exist; aggregated as JSON so that both come back in one row, from one snapshot. Only rows whose
 * `user_id` is the user's: another user's id is never read. An administrator's address and agent are theirs
 * (`actor_id` another user): left out, as is `actor_id`. Each kind a bounded range of an index on
 * (`user_id`, `created_at` desc): `test/integration/export-plan.test.ts`.
 */
export const exportStatement = (userId: number, query: Parameters<AccountExportRepository['read']>[1]): SQL =>
  sql`
  select
    (select coalesce(json_agg(json_build_object(
        'id', s.id, 'created_at', s.created_at, 'last_used_at', s.last_used_at, 'expires_at', s.expires_at,
        'revoked_at', s.revoked_at, 'revoked_reason', s.revoked_reason, 'source_ip', s.source_ip,
        'user_agent', s.user_agent
      ) order by s.created_at desc, s.id), '[]'::json)
    from (
      select id, created_at, last_used_at, expires_at, revoked_at, revoked_reason, source_ip, user_agent
      from ${sessions} where user_id = ${userId}
      order by created_at desc, id limit ${query.sessions + 1}
    ) s) as sessions,
    (select coalesce(json_agg(json_build_object(
        'type', e.type, 'created_at', e.created_at, 'source_ip', e.source_ip, 'user_agent', e.user_agent,
        'email', e.email, 'by_administrator', e.by_administrator, 'details', e.details
      ) order by e.created_at desc, e.id desc), '[]'::json)
    from (
      select id, type, created_at, email, details, actor_id is not null as by_administrator,
        case when actor_id is null or actor_id = user_id then source_ip end as source_ip,
        case when actor_id is null or actor_id = user_id then user_agent end as user_agent
      from ${securityEvents}
      where user_id = ${userId} and ${notOneOf(sql`type`, query.withheldEventTypes)}
      order by created_at desc, id desc limit ${query.securityEvents + 1}
    ) e) as security_events`

/** An account's data as its owner may read it: one read-only statement. */
export function createAccountExportRepository(db: Database) {
  return {
    async read(userId, query) {
      const result = await db
        .execute<{ sessions: SessionJson[]; security_events: EventJson[] }>(exportStatement(userId, query))
        .catch(rethrowUnavailable)
      const row = result.rows[0]
      const sessionRows = row?.sessions ?? []
      const eventRows = row?.security_events ?? []
      return {
        sessions: sessionRows.slice(0, query.sessions).map((session) => ({
          id: session.id,
          createdAt: new Date(session.created_at),
          lastUsedAt: new Date(session.last_used_at),
          expiresAt: dateOrNull(session.expires_at),
          revokedAt: dateOrNull(session.revoked_at),
          revokedReason: session.revoked_reason,
          sourceIp: session.source_ip,
          userAgent: session.user_agent,
        })),
        securityEvents: eventRows.slice(0, query.securityEvents).map((event) => ({
          type: event.type,
          createdAt: new Date(event.created_at),
          sourceIp: event.source_ip,
          userAgent: event.user_agent,
          email: event.email,
          byAdministrator: event.by_administrator,
          details: event.details,
        })),
        more: {
          sessions: sessionRows.length > query.sessions,
          securityEvents: eventRows.length > query.securityEvents,
        },
      }
    },
  } satisfies AccountExportRepository
}
