import type { UserRecord } from './users.ts'

/**
 * Who called a `session` or `superuser` route, as the HTTP layer authenticated them before the handler ran: an active
 * user, and the live session of their access token. Services take this, never a raw token.
 */
export interface SessionPrincipal {
  readonly user: UserRecord
  /** The session the access token was issued in; null for a token that names none. */
  readonly sessionId: string | null
  /** The session's login (the token's `auth_time`); null for a token issued before the claim existed. */
  readonly authTime: Date | null
}

/**
 * Who called a `token` route: a holder of an access token that API Gateway's JWT authorizer verified (signature,
 * issuer, audience, expiry). Nothing was looked up: the session may have ended since, and the user be inactive.
 */
export interface TokenPrincipal {
  readonly userId: number
  readonly sessionId: string | null
  /** Every claim of the token as the gateway passes them: each a string. */
  readonly claims: Readonly<Record<string, string>>
}
