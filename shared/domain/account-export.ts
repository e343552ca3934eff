import * as v from 'valibot'
import { type AccountExport, AdminDetailsSchema, isoWithOffset, toPublicUser } from './contract.ts'
import type { AccountExportRepository, ExportedEventRecord, ExportedSessionRecord } from './ports.ts'
import type { SessionPrincipal } from './principal.ts'
import type { Clock } from './tokens.ts'

/**
 * The most rows of each kind one export reads, the newest: what bounds its statement and the function's memory.
 * A user holds at most `MAX_SESSIONS_PER_USER` (1000 at most) live sessions, plus the ended ones the cleanup has not
 * purged yet; an app refreshing every 15 minutes writes ~100 audit events a day, kept 400 days.
 */
export const EXPORT_LIMITS = { sessions: 1000, securityEvents: 5000 } as const

/**
 * The most bytes of JSON the rows of each kind may take in the answer, so that it always fits Lambda's response
 * payload (6 MiB, 6,291,456 bytes), in which the body travels as a JSON string: each `"` and `\` of it written twice,
 * so at most twice its size. Rows (2.75 MB) and the rest (the user and the frame, under 2 KB) keep the payload under
 * 5.51 MB.
 *
 * The counts alone would not: the agent's column holds 512 characters, and one of control characters (`\u0001`, six
 * bytes each in JSON) makes a session row 3,451 bytes and an event 3,668 (with a 254-character address): 3.5 MB of
 * sessions and 18 MB of events at the limits. Rows as they come (a browser's 117-character agent) take 440 and 293
 * bytes, 0.44 MB and 1.5 MB at the limits, so the budgets bite only on rows far from those.
 * `test/unit/account-export.test.ts` measures these, and the payload of both extremes (a control character, a quote).
 */
export const EXPORT_BUDGET_BYTES = { sessions: 750_000, securityEvents: 2_000_000 } as const

/**
 * The audit events an export leaves out, each because whether it exists tells something of another account. An email
 * change to an address that is already an account's queues no code (and records its request with no user): its
 * request, its mail's outcome and a wrong guess of its code are recorded for the user only when the address is
 * nobody's, so the export would answer, address by address, what the change's identical answers keep hidden.
 */
export const WITHHELD_EVENT_TYPES = [
  'email_change_requested',
  'email_change_mail_sent',
  'email_change_mail_failed',
  'email_change_mail_superseded',
  'email_change_mail_expired',
  'email_change_mail_inactive',
  // Not told apart from a wrong guess of a verification code (the event has no purpose).
  'email_code_failed',
] as const

export interface AccountExportDependencies {
  exports: AccountExportRepository
  clock: Clock
}

export type AccountExportService = ReturnType<typeof createAccountExportService>

/** The answer's rows of one kind that fit `budget` bytes of JSON, newest first; `cut` when some did not. */
function withinBudget<T>(rows: readonly T[], budget: number): { rows: T[]; cut: boolean } {
  let used = 2
  const kept: T[] = []
  for (const row of rows) {
    used += Buffer.byteLength(JSON.stringify(row)) + 1
    if (used > budget) return { rows: kept, cut: true }
    kept.push(row)
  }
  return { rows: kept, cut: false }
}

const isoOrNull = (date: Date | null) => (date === null ? null : isoWithOffset(date))

const toExportedSession = (session: ExportedSessionRecord, currentId: string | null) => ({
  id: session.id,
  created_at: isoWithOffset(session.createdAt),
  last_used_at: isoWithOffset(session.lastUsedAt),
  expires_at: isoOrNull(session.expiresAt),
  revoked_at: isoOrNull(session.revokedAt),
  revoked_reason: session.revokedReason,
  source_ip: session.sourceIp,
  user_agent: session.userAgent,
  current: session.id === currentId,
})

const toExportedEvent = (event: ExportedEventRecord) => ({
  type: event.type,
  created_at: isoWithOffset(event.createdAt),
  source_ip: event.sourceIp,
  user_agent: event.userAgent,
  email: event.email,
  by_administrator: event.byAdministrator,
  details: adminDetails(event.details),
})

/**
 * The documented fields of what an administrator's action changed, and only those: a field an event may gain later
 * reaches the export once the contract names it (a value of another shape, none).
 */
function adminDetails(details: unknown) {
  if (details === null || details === undefined) return null
  const parsed = v.safeParse(AdminDetailsSchema, details)
  return parsed.success ? parsed.output : null
}

/** The file name an export is offered under: the account and the day (UTC) it was made. */
export const exportFileName = (userId: number, at: Date) =>
  `account-export-${userId}-${at.toISOString().slice(0, 10)}.json`

/** A user's copy of their own data (GDPR articles 15 and 20): the account, its sessions, its own audit events. */
export function createAccountExportService({ exports, clock }: AccountExportDependencies) {
  return {
    async exportAccount({
      user,
      sessionId,
    }: SessionPrincipal): Promise<{ body: AccountExport; fileName: string }> {
      const read = await exports.read(user.id, {
        ...EXPORT_LIMITS,
        withheldEventTypes: WITHHELD_EVENT_TYPES,
      })
      const exportedAt = clock.now()
      const sessions = withinBudget(
        read.sessions.map((session) => toExportedSession(session, sessionId)),
        EXPORT_BUDGET_BYTES.sessions,
      )
      const events = withinBudget(
        read.securityEvents.map(toExportedEvent),
        EXPORT_BUDGET_BYTES.securityEvents,
      )
      const body: AccountExport = {
        format: 'papa-auth.account-export',
        version: 1,
        exported_at: isoWithOffset(exportedAt),
        user: toPublicUser(user),
        sessions: sessions.rows,
        security_events: events.rows,
        limits: { sessions: EXPORT_LIMITS.sessions, security_events: EXPORT_LIMITS.securityEvents },
        truncated: {
          sessions: read.more.sessions || sessions.cut,
          security_events: read.more.securityEvents || events.cut,
        },
      }
      return { body, fileName: exportFileName(user.id, exportedAt) }
    },
  }
}
