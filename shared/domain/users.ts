// Type-only: the record is the table's row, declared once in the Drizzle schema; no SQL reaches the domain.
import type { users } from '#db/schema'

/** A stored user, as the `users` table declares it (`db/schema.ts`): the record every repository returns. */
export type UserRecord = typeof users.$inferSelect

export interface NewUser {
  email: string
  username: string | null
  hashedPassword: string
  isSuperuser?: boolean
}

/** Where a request came from, for the audit trail and rate limits: API Gateway's view, never `X-Forwarded-For`. */
export interface RequestContext {
  sourceIp: string
  userAgent: string
}
