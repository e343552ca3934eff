/**
 * The response shapes of the HTTP contract (`../shared/API-CONTRACT.md`), declared once: the handlers answer with
 * them, the OpenAPI document is generated from them, and the public types are inferred from them. A new field of a
 * response is added here (and, for the user, in `toPublicUser`); test/unit/user-contract.test.ts holds the User
 * against the `users` table.
 */
import * as v from 'valibot'
import type { UserRecord } from './users.ts'

/** The User object of the contract, as every endpoint that returns a user writes it. */
export const UserSchema = v.pipe(
  v.object({
    id: v.pipe(v.number(), v.integer()),
    email: v.pipe(v.string(), v.email()),
    username: v.nullable(v.string()),
    is_active: v.boolean(),
    is_superuser: v.boolean(),
    email_verified: v.pipe(
      v.boolean(),
      v.description(
        'The address was proved to be the user’s (a mailed code confirmed, or a reset through a mailed link).',
      ),
    ),
    created_at: v.pipe(v.string(), v.isoTimestamp()),
    updated_at: v.pipe(v.string(), v.isoTimestamp()),
  }),
  v.description(
    'A user account. Never carries a password or a hash. Timestamps are ISO 8601 with an offset.',
  ),
)
export type PublicUser = v.InferOutput<typeof UserSchema>

/** The `users` columns (record fields) that no response ever carries: the hash, how it was made, its version, the links' voiding. */
export const PRIVATE_USER_FIELDS = [
  'hashedPassword',
  'passwordCarriedOver',
  'credentialVersion',
  'linksRevokedAt',
] as const satisfies readonly (keyof UserRecord)[]

/** ISO 8601 with an explicit offset (`+00:00`), as the old backend's timezone-aware datetimes were written. */
export const isoWithOffset = (date: Date) => date.toISOString().replace('Z', '+00:00')

/** A stored user as the contract shows it: one line per public field. */
export const toPublicUser = (user: UserRecord): PublicUser => ({
  id: user.id,
  email: user.email,
  username: user.username,
  is_active: user.isActive,
  is_superuser: user.isSuperuser,
  email_verified: user.emailVerified,
  created_at: isoWithOffset(user.createdAt),
  updated_at: isoWithOffset(user.updatedAt),
})

/** The token pair that login, token and refresh return. */
export const TokenPairSchema = v.pipe(
  v.object({
    access_token: v.pipe(
      v.string(),
      v.description(
        'A JWT (RS256, `typ: at+jwt`, `kid` of a key at `/.well-known/jwks.json`); send it as `Bearer`.',
      ),
    ),
    refresh_token: v.pipe(
      v.string(),
      v.description('An opaque, single-use token: each use returns a new pair and retires this one.'),
    ),
    token_type: v.literal('bearer'),
    expires_in: v.pipe(v.number(), v.integer(), v.description("The access token's lifetime in seconds.")),
  }),
  v.description('An access token and the refresh token that renews it.'),
)
export type TokenPair = v.InferOutput<typeof TokenPairSchema>

/** A live session, as `GET /users/me/sessions` lists it. */
export const SessionSchema = v.object({
  id: v.pipe(v.string(), v.uuid()),
  created_at: v.pipe(v.string(), v.isoTimestamp(), v.description('The login that started it.')),
  last_used_at: v.pipe(v.string(), v.isoTimestamp(), v.description('Its latest refresh.')),
  ip: v.pipe(v.nullable(v.string()), v.description('The source address of its login.')),
  user_agent: v.pipe(v.nullable(v.string()), v.description('The user agent of its login.')),
  current: v.pipe(v.boolean(), v.description('The session of the access token sent.')),
})
export type PublicSession = v.InferOutput<typeof SessionSchema>

/** A session of the account as its export lists it: live or ended, for as long as the service keeps it. */
export const ExportedSessionSchema = v.object({
  id: v.pipe(v.string(), v.uuid()),
  created_at: v.pipe(v.string(), v.isoTimestamp(), v.description('The login that started it.')),
  last_used_at: v.pipe(v.string(), v.isoTimestamp(), v.description('Its latest refresh.')),
  expires_at: v.pipe(
    v.nullable(v.pipe(v.string(), v.isoTimestamp())),
    v.description(
      'When it stops mattering: its live refresh token’s expiry, or when it ended; null for a session older than ' +
        'the column.',
    ),
  ),
  revoked_at: v.pipe(
    v.nullable(v.pipe(v.string(), v.isoTimestamp())),
    v.description('When it was ended; null if it was not (it is live, or it expired).'),
  ),
  revoked_reason: v.pipe(
    v.nullable(v.string()),
    v.description(
      'Why it was ended: `logout`, `reuse` (a used refresh token presented again), `user` (ended from the list), ' +
        '`password_change`, `password_reset`, `email_changed`, `session_limit` (a newer login past the cap), ' +
        '`admin`, `deactivated`.',
    ),
  ),
  source_ip: v.pipe(v.nullable(v.string()), v.description('The source address of its login.')),
  user_agent: v.pipe(v.nullable(v.string()), v.description('The user agent of its login.')),
  current: v.pipe(v.boolean(), v.description('The session of the access token that asked for the export.')),
})
export type ExportedSession = v.InferOutput<typeof ExportedSessionSchema>

/** What an administrator's action on the account changed, as its event records it. */
export const AdminDetailsSchema = v.object({
  is_active: v.optional(
    v.pipe(
      v.strictTuple([v.boolean(), v.boolean()]),
      v.description('Deactivated or reactivated: `[before, after]`.'),
    ),
  ),
  is_superuser: v.optional(
    v.pipe(
      v.strictTuple([v.boolean(), v.boolean()]),
      v.description('Made or unmade a superuser: `[before, after]`.'),
    ),
  ),
  sessions_ended: v.optional(
    v.pipe(v.number(), v.integer(), v.description('How many of the account’s sessions it ended.')),
  ),
  job_id: v.optional(v.pipe(v.string(), v.uuid(), v.description('The reset mail it queued.'))),
})

/** An event of the account's audit trail as its export lists it. */
export const ExportedSecurityEventSchema = v.object({
  type: v.pipe(
    v.string(),
    v.description(
      'What happened: `register`, `login_success`, `login_failure`, `lockout`, `refresh`, `logout`, ' +
        '`session_ended`, `password_changed`, `password_reset_requested`, `email_verified`, `admin_user_updated`, ' +
        '`password_reset_mail_sent`, … (the service’s audit event types).',
    ),
  ),
  created_at: v.pipe(v.string(), v.isoTimestamp()),
  source_ip: v.pipe(
    v.nullable(v.string()),
    v.description(
      'The source address of the request that caused it (anyone’s: a failed login or a reset request for the ' +
        'account’s address may come from someone else); null for another administrator’s action and for what the ' +
        'service did on its own (a mail sent).',
    ),
  ),
  user_agent: v.pipe(
    v.nullable(v.string()),
    v.description('That request’s user agent, null as `source_ip` is.'),
  ),
  email: v.pipe(
    v.nullable(v.string()),
    v.description(
      'The account’s address as the event recorded it (an earlier one, before a change); often null.',
    ),
  ),
  by_administrator: v.pipe(
    v.boolean(),
    v.description(
      'An administrator did it. Which one, and from where, is theirs and not in the export (unless it was the ' +
        'account’s own user, acting as one).',
    ),
  ),
  details: v.pipe(
    v.nullable(AdminDetailsSchema),
    v.description('What an administrator’s action changed; null for every other event.'),
  ),
})
export type ExportedSecurityEvent = v.InferOutput<typeof ExportedSecurityEventSchema>

const perKind = (description: string, entry: v.GenericSchema<unknown, number | boolean>) =>
  v.pipe(v.object({ sessions: entry, security_events: entry }), v.description(description))

/**
 * The answer of `GET /users/me/export`: everything the service holds about the caller's account (GDPR articles 15 and
 * 20), as one JSON document. `format` and `version` name the shape; a change that is not additive raises `version`.
 */
export const AccountExportSchema = v.pipe(
  v.object({
    format: v.literal('papa-auth.account-export'),
    version: v.literal(1),
    exported_at: v.pipe(v.string(), v.isoTimestamp()),
    user: UserSchema,
    sessions: v.pipe(
      v.array(ExportedSessionSchema),
      v.description('The account’s sessions, live and ended, newest first.'),
    ),
    security_events: v.pipe(
      v.array(ExportedSecurityEventSchema),
      v.description('The account’s own audit events, newest first.'),
    ),
    limits: perKind(
      'The most sessions and events an export holds (the newest ones).',
      v.pipe(v.number(), v.integer()),
    ),
    truncated: perKind(
      '`true` where older entries exist than the export holds: past its limit, or past its share of the ' +
        'answer’s size.',
      v.boolean(),
    ),
  }),
  v.description(
    'A copy of the account’s data: the user, its sessions and its own audit events. Never a password, a hash or a ' +
      'token, and nothing of another account.',
  ),
)
export type AccountExport = v.InferOutput<typeof AccountExportSchema>

export const HttpErrorSchema = v.pipe(
  v.object({ detail: v.string() }),
  v.description('An error, in the old backend (FastAPI) shape.'),
)

export const ValidationIssueSchema = v.object({
  loc: v.pipe(
    v.array(v.union([v.string(), v.pipe(v.number(), v.integer())])),
    v.description(
      'Where the problem is: `["body"]` for the body as a whole, `["body", "email"]` for a field.',
    ),
  ),
  msg: v.string(),
  type: v.string(),
})

export const HttpValidationErrorSchema = v.pipe(
  v.object({ detail: v.array(ValidationIssueSchema) }),
  v.description('Invalid input: one entry per problem.'),
)

export const OAuthErrorSchema = v.pipe(
  v.object({
    error: v.picklist(['invalid_request', 'invalid_grant', 'unsupported_grant_type']),
    error_description: v.string(),
  }),
  v.description('An OAuth 2.0 token endpoint error (RFC 6749 §5.2).'),
)
