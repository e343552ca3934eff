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
