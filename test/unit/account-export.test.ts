import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda'
import * as v from 'valibot'
import { describe, expect, it } from 'vitest'
import type { SecurityEventType } from '#db/repositories/rows'
import { lambdaContext } from '#infra/local/event'
import {
  createAccountExportService,
  EXPORT_BUDGET_BYTES,
  EXPORT_LIMITS,
  WITHHELD_EVENT_TYPES,
} from '#shared/domain/account-export'
import { type AccountExport, AccountExportSchema } from '#shared/domain/contract'
import type {
  AccountExportQuery,
  AccountExportRepository,
  ExportedEventRecord,
  ExportedSessionRecord,
} from '#shared/domain/ports'
import type { SessionPrincipal } from '#shared/domain/principal'
import { httpHandler, ok } from '#shared/http/handler'
import { apiEvent } from '#test/helpers/events'
import { userRecord } from '#test/helpers/records'

/** Lambda's limit on a synchronous invocation's response payload. */
const LAMBDA_RESPONSE_PAYLOAD_BYTES = 6 * 1024 * 1024
const NOW = new Date('2025-03-04T05:06:07.089Z')
const CURRENT = '11111111-1111-4111-8111-111111111111'

const principal: SessionPrincipal = {
  user: userRecord({
    id: 42,
    email: 'alice@example.com',
    username: 'alice',
    hashedPassword: '$2b$12$notarealhashnotarealhashnotarealhashnotarealhashnotare',
    createdAt: new Date('2025-01-01T00:00:00Z'),
  }),
  sessionId: CURRENT,
  authTime: null,
}

const session = (fields: Partial<ExportedSessionRecord> = {}): ExportedSessionRecord => ({
  id: crypto.randomUUID(),
  createdAt: new Date('2025-03-01T10:00:00Z'),
  lastUsedAt: new Date('2025-03-02T10:00:00Z'),
  expiresAt: new Date('2025-03-09T10:00:00Z'),
  revokedAt: null,
  revokedReason: null,
  sourceIp: '203.0.113.7',
  userAgent: 'Mozilla/5.0',
  ...fields,
})

const event = (fields: Partial<ExportedEventRecord> = {}): ExportedEventRecord => ({
  type: 'refresh',
  createdAt: new Date('2025-03-02T10:00:00Z'),
  sourceIp: '203.0.113.7',
  userAgent: 'Mozilla/5.0',
  email: null,
  byAdministrator: false,
  details: null,
  ...fields,
})

/** A repository that answers `rows` (cut to the limits, as the real one does) and keeps the queries it was asked. */
function stubRepository(rows: { sessions?: ExportedSessionRecord[]; events?: ExportedEventRecord[] }) {
  const queries: { userId: number; query: AccountExportQuery }[] = []
  const repository: AccountExportRepository = {
    async read(userId, query) {
      queries.push({ userId, query })
      const sessions = rows.sessions ?? []
      const events = rows.events ?? []
      return {
        sessions: sessions.slice(0, query.sessions),
        securityEvents: events.slice(0, query.securityEvents),
        more: {
          sessions: sessions.length > query.sessions,
          securityEvents: events.length > query.securityEvents,
        },
      }
    },
  }
  return { repository, queries }
}

const exportOf = async (rows: Parameters<typeof stubRepository>[0]) => {
  const { repository } = stubRepository(rows)
  const service = createAccountExportService({ exports: repository, clock: { now: () => NOW } })
  return service.exportAccount(principal)
}

/** The bytes Lambda's runtime sends for the answer: the result of the middy stack, as JSON, the body a string in it. */
async function payloadBytes(body: AccountExport, fileName: string): Promise<number> {
  const handler = httpHandler(
    async () => ok(body, { 'content-disposition': `attachment; filename="${fileName}"` }),
    { callers: 'anyone' },
  )
  const result = (await handler(
    apiEvent('GET', '/api/v1/users/me/export'),
    lambdaContext('export-account'),
  )) as APIGatewayProxyStructuredResultV2
  expect(result.statusCode).toBe(200)
  return Buffer.byteLength(JSON.stringify(result))
}

/**
 * The longest value each column can hold, the agent's 512 characters each written as JSON writes it longest: a control
 * character (`\u0001`, six bytes in the body) or a quote (`\"`, two in the body and four once the body is a string).
 */
const AGENTS = { 'control characters': '\u0001'.repeat(512), quotes: '"'.repeat(512) }
const worstSession = (userAgent: string) => () =>
  session({
    revokedAt: new Date('2025-03-02T10:00:00Z'),
    revokedReason: 'r'.repeat(40),
    sourceIp: 'f'.repeat(45),
    userAgent,
  })
const worstEvent = (userAgent: string) => () =>
  event({
    type: 't'.repeat(40),
    email: `${'a'.repeat(242)}@example.com`,
    sourceIp: 'f'.repeat(45),
    userAgent,
    byAdministrator: true,
    details: { is_active: [true, false], is_superuser: [true, false], sessions_ended: 1000, job_id: CURRENT },
  })
/** A browser's agent as it comes (Chrome's, 117 characters). */
const BROWSER_AGENT =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'

describe('an account export', () => {
  it('holds the user, the sessions with the current one marked and the events, as read, in the documented shape', async () => {
    const current = session({ id: CURRENT })
    const ended = session({
      createdAt: new Date('2025-02-01T10:00:00Z'),
      revokedAt: new Date('2025-02-02T10:00:00Z'),
      revokedReason: 'logout',
    })
    const { body, fileName } = await exportOf({
      sessions: [current, ended],
      events: [event(), event({ type: 'login_success', email: 'alice@example.com' })],
    })
    expect(v.safeParse(AccountExportSchema, body).issues).toBeUndefined()
    expect(fileName).toBe('account-export-42-2025-03-04.json')
    expect(body).toEqual({
      format: 'papa-auth.account-export',
      version: 1,
      exported_at: '2025-03-04T05:06:07.089+00:00',
      user: {
        id: 42,
        email: 'alice@example.com',
        username: 'alice',
        is_active: true,
        is_superuser: false,
        email_verified: false,
        created_at: '2025-01-01T00:00:00.000+00:00',
        updated_at: '2025-01-01T00:00:00.000+00:00',
      },
      sessions: [
        {
          id: CURRENT,
          created_at: '2025-03-01T10:00:00.000+00:00',
          last_used_at: '2025-03-02T10:00:00.000+00:00',
          expires_at: '2025-03-09T10:00:00.000+00:00',
          revoked_at: null,
          revoked_reason: null,
          source_ip: '203.0.113.7',
          user_agent: 'Mozilla/5.0',
          current: true,
        },
        {
          id: ended.id,
          created_at: '2025-02-01T10:00:00.000+00:00',
          last_used_at: '2025-03-02T10:00:00.000+00:00',
          expires_at: '2025-03-09T10:00:00.000+00:00',
          revoked_at: '2025-02-02T10:00:00.000+00:00',
          revoked_reason: 'logout',
          source_ip: '203.0.113.7',
          user_agent: 'Mozilla/5.0',
          current: false,
        },
      ],
      security_events: [
        {
          type: 'refresh',
          created_at: '2025-03-02T10:00:00.000+00:00',
          source_ip: '203.0.113.7',
          user_agent: 'Mozilla/5.0',
          email: null,
          by_administrator: false,
          details: null,
        },
        {
          type: 'login_success',
          created_at: '2025-03-02T10:00:00.000+00:00',
          source_ip: '203.0.113.7',
          user_agent: 'Mozilla/5.0',
          email: 'alice@example.com',
          by_administrator: false,
          details: null,
        },
      ],
      limits: { sessions: EXPORT_LIMITS.sessions, security_events: EXPORT_LIMITS.securityEvents },
      truncated: { sessions: false, security_events: false },
    })
  })

  it('asks for the caller’s rows only, at most the limits, without the withheld event types', async () => {
    const { repository, queries } = stubRepository({})
    await createAccountExportService({ exports: repository, clock: { now: () => NOW } }).exportAccount(
      principal,
    )
    expect(queries).toEqual([
      {
        userId: 42,
        query: {
          sessions: EXPORT_LIMITS.sessions,
          securityEvents: EXPORT_LIMITS.securityEvents,
          withheldEventTypes: WITHHELD_EVENT_TYPES,
        },
      },
    ])
  })

  it('withholds every event of an email change that names the account, as the audit trail spells them', () => {
    // Every such type, by name: a new one (a new mail outcome) does not compile until it is placed here.
    const emailChangeEvents: Record<
      Extract<SecurityEventType, `email_change_${string}`>,
      'withheld' | 'no user'
    > = {
      email_change_requested: 'withheld',
      // Recorded without the account (a refused request names no user): in no export.
      email_change_limited: 'no user',
      email_change_mail_sent: 'withheld',
      email_change_mail_failed: 'withheld',
      email_change_mail_superseded: 'withheld',
      email_change_mail_expired: 'withheld',
      email_change_mail_inactive: 'withheld',
    }
    const withheld = Object.entries(emailChangeEvents)
      .filter(([, verdict]) => verdict === 'withheld')
      .map(([type]) => type)
    expect(WITHHELD_EVENT_TYPES.filter((type) => type.startsWith('email_change_'))).toEqual(withheld)
  })

  it('keeps only the documented fields of what an administrator changed, and nothing of another shape', async () => {
    const { body } = await exportOf({
      events: [
        event({
          type: 'admin_user_updated',
          byAdministrator: true,
          sourceIp: null,
          userAgent: null,
          details: { is_active: [true, false], sessions_ended: 2, actor_email: 'root@example.com' },
        }),
        event({ type: 'admin_sessions_ended', byAdministrator: true, details: { sessions_ended: 'two' } }),
      ],
    })
    expect(body.security_events.map((entry) => entry.details)).toEqual([
      { is_active: [true, false], sessions_ended: 2 },
      null,
    ])
    expect(JSON.stringify(body)).not.toContain('root@example.com')
  })

  it('says truncated where the repository found more than the limit', async () => {
    const { body } = await exportOf({
      sessions: Array.from({ length: EXPORT_LIMITS.sessions + 1 }, () => session()),
      events: [event()],
    })
    expect(body.sessions).toHaveLength(EXPORT_LIMITS.sessions)
    expect(body.truncated).toEqual({ sessions: true, security_events: false })
  })

  it('cuts nothing of rows as they come (a browser’s agent) at the limits, half a Lambda answer at most', async () => {
    const { body, fileName } = await exportOf({
      sessions: Array.from({ length: EXPORT_LIMITS.sessions }, () =>
        session({ userAgent: BROWSER_AGENT, revokedAt: NOW, revokedReason: 'password_change' }),
      ),
      events: Array.from({ length: EXPORT_LIMITS.securityEvents }, () =>
        event({ userAgent: BROWSER_AGENT, email: 'alice@example.com' }),
      ),
    })
    expect(body.sessions).toHaveLength(EXPORT_LIMITS.sessions)
    expect(body.security_events).toHaveLength(EXPORT_LIMITS.securityEvents)
    expect(body.truncated).toEqual({ sessions: false, security_events: false })
    expect(await payloadBytes(body, fileName)).toBeLessThan(LAMBDA_RESPONSE_PAYLOAD_BYTES / 2)
  })

  it.each(Object.entries(AGENTS))(
    'fits Lambda’s 6 MiB answer with every column at its longest (an agent of %s), which the counts alone would not, and says it cut',
    async (_name, agent) => {
      const sessionBytes = Buffer.byteLength(
        JSON.stringify((await exportOf({ sessions: [worstSession(agent)()] })).body.sessions[0]),
      )
      const eventBytes = Buffer.byteLength(
        JSON.stringify((await exportOf({ events: [worstEvent(agent)()] })).body.security_events[0]),
      )
      // Without the byte budgets, the rows alone would be far past the limit.
      expect(
        sessionBytes * EXPORT_LIMITS.sessions + eventBytes * EXPORT_LIMITS.securityEvents,
      ).toBeGreaterThan(LAMBDA_RESPONSE_PAYLOAD_BYTES)
      const { body, fileName } = await exportOf({
        sessions: Array.from({ length: EXPORT_LIMITS.sessions }, worstSession(agent)),
        events: Array.from({ length: EXPORT_LIMITS.securityEvents }, worstEvent(agent)),
      })
      expect(body.truncated).toEqual({ sessions: true, security_events: true })
      expect(body.sessions.length).toBe(Math.floor((EXPORT_BUDGET_BYTES.sessions - 2) / (sessionBytes + 1)))
      expect(body.security_events.length).toBe(
        Math.floor((EXPORT_BUDGET_BYTES.securityEvents - 2) / (eventBytes + 1)),
      )
      const bytes = await payloadBytes(body, fileName)
      expect(bytes).toBeLessThan(LAMBDA_RESPONSE_PAYLOAD_BYTES)
    },
  )
})
