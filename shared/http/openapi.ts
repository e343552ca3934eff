import { type ConversionConfig, type JsonSchema, toJsonSchema } from '@valibot/to-json-schema'
import * as v from 'valibot'
import {
  EXPORT_BUDGET_BYTES,
  EXPORT_LIMITS,
  exportFileName,
  WITHHELD_EVENT_TYPES,
} from '#shared/domain/account-export'
import {
  ADMIN_PAGE_DEFAULT,
  ADMIN_PAGE_MAX,
  AdminUserListQuerySchema,
  AdminUserPatchSchema,
} from '#shared/domain/admin-schemas'
import {
  type AccountExport,
  AccountExportSchema,
  ExportedSecurityEventSchema,
  ExportedSessionSchema,
  HttpErrorSchema,
  HttpValidationErrorSchema,
  OAuthErrorSchema,
  type PublicSession,
  type PublicUser,
  SessionSchema,
  TokenPairSchema,
  UserSchema,
  ValidationIssueSchema,
} from '#shared/domain/contract'
import { PreferencesBodySchema, PreferencesSchema } from '#shared/domain/preferences'
import {
  AccountDeletionBodySchema,
  AccountDeletionConfirmBodySchema,
  ChangePasswordBodySchema,
  DeleteAccountBodySchema,
  EMAIL_MAX_LENGTH,
  EmailChangeBodySchema,
  EmailChangeConfirmBodySchema,
  EmailVerificationBodySchema,
  EmailVerificationConfirmBodySchema,
  LoginBodySchema,
  PASSWORD_MAX_BYTES,
  PASSWORD_MIN_BYTES,
  PasswordResetBodySchema,
  PasswordResetConfirmBodySchema,
  RefreshBodySchema,
  RegisterBodySchema,
  TokenFormSchema,
} from '#shared/domain/schemas'
import type { Config } from '#shared/platform/config'
import type { Callers } from './authentication.ts'
import { FORM_MEDIA_TYPE, JSON_MEDIA_TYPE, MAX_BODY_BYTES } from './handler.ts'

/*
 * The OpenAPI 3.1 document. Request bodies are converted from the very valibot schemas the functions validate
 * with; responses from the schemas below, which the tests hold against the handlers' real responses. Paths come
 * from the route table, so an API route cannot go undocumented and the document names no path that is not a route;
 * the documentation routes (Swagger UI and this document) serve the API's description and are not part of it.
 * Limits and lifetimes are stated as configured, so the text says what this deployment does.
 */

/** What `GET /auth/claims` returns: the access token's claims as API Gateway's JWT authorizer passes them. */
export const AccessTokenClaimsSchema = v.pipe(
  v.object({
    iss: v.pipe(v.string(), v.description('The issuer: the API’s public URL.')),
    aud: v.string(),
    sub: v.pipe(v.string(), v.description('The user id.')),
    sid: v.pipe(v.string(), v.description('The session the token was issued in.')),
    auth_time: v.optional(
      v.pipe(
        v.string(),
        v.description(
          'The login that started the session, seconds since the epoch, as a string: a refreshed token keeps it ' +
            '(absent from tokens issued before the claim existed).',
        ),
      ),
    ),
    email_verified: v.optional(
      v.pipe(
        v.picklist(['true', 'false']),
        v.description(
          'Whether the user’s address was verified when the token was issued, as a string (absent from tokens ' +
            'issued before the claim existed).',
        ),
      ),
    ),
    client_id: v.string(),
    iat: v.pipe(v.string(), v.description('Seconds since the epoch, as a string.')),
    exp: v.pipe(v.string(), v.description('Seconds since the epoch, as a string.')),
    jti: v.string(),
  }),
  v.description(
    'The verified claims of the access token, each a string, as the gateway hands them to the function; other claims would be passed too.',
  ),
)

/** API Gateway's own 401, before any function runs. */
export const GatewayUnauthorizedSchema = v.pipe(
  v.object({ message: v.literal('Unauthorized') }),
  v.description('API Gateway’s answer to a missing or refused token, before any function runs.'),
)

/**
 * The one answer to every accepted reset request, whatever the email: the text of `PASSWORD_RESET_ACCEPTED` in
 * `functions/password-reset.ts` (the tests hold the two together).
 */
export const PasswordResetAcceptedSchema = v.pipe(
  v.object({
    detail: v.literal('If an account with this email exists, a link to reset its password has been sent.'),
  }),
  v.description('The same body for every email, with an account or not.'),
)

/**
 * The one answer to every accepted code request, whatever the email: `EMAIL_VERIFICATION_ACCEPTED` of
 * `functions/email-verification.ts` (the tests hold the two together).
 */
export const EmailVerificationAcceptedSchema = v.pipe(
  v.object({
    detail: v.literal('If an account with this email needs verifying, a code has been sent to it.'),
  }),
  v.description('The same body for every email: with an account or not, verified or not.'),
)

/** The answer to an accepted email change: `EMAIL_CHANGE_ACCEPTED` of `functions/email-change.ts`. */
/** The one answer to every accepted deletion-link request: `ACCOUNT_DELETION_ACCEPTED` in `functions/account-deletion.ts`. */
export const AccountDeletionAcceptedSchema = v.pipe(
  v.object({
    detail: v.literal('If an account with this email exists, a link to delete it has been sent.'),
  }),
  v.description('The same body for every email, with an account or not.'),
)

export const EmailChangeAcceptedSchema = v.pipe(
  v.object({
    detail: v.literal(
      'A code has been sent to the new address. The email changes once the code is confirmed.',
    ),
  }),
  v.description('Nothing has changed yet: the account keeps its address until the code is confirmed.'),
)

/**
 * A page of `GET /admin/users`: `UserPage` of shared/domain/admin-service.ts (the tests hold the two together, and the
 * handler's answers against it).
 */
export const UserPageSchema = v.pipe(
  v.object({
    items: v.pipe(v.array(UserSchema), v.description('At most `limit` accounts, newest first.')),
    next_cursor: v.pipe(
      v.nullable(v.string()),
      v.description(
        'Pass it as `cursor`, with the same filters, for the next page; `null` on the last page. Opaque: use it as given.',
      ),
    ),
  }),
  v.description('One page of accounts.'),
)

/**
 * The answer to an operator's reset request: the text of `ADMIN_RESET_ACCEPTED` in `functions/admin-password-reset.ts`
 * (the tests hold the two together).
 */
export const AdminPasswordResetAcceptedSchema = v.pipe(
  v.object({ detail: v.literal('A link to reset the password has been sent to the account.') }),
  v.description('The reset mail is queued; it is sent just after the answer.'),
)

export const HealthSchema = v.object({ status: v.literal('ok') })
export const HealthUnavailableSchema = v.object({ status: v.literal('unavailable') })

/** What of a route the document needs: the route table's entries satisfy it. */
export interface RouteLike {
  readonly method: string
  readonly path: string
  readonly function: string
  /** Who may call it: its security requirement and its 401 and 403 answers are derived from this alone. */
  readonly callers: Callers
  /** A documentation route (Swagger UI, this document): left out of the document. */
  readonly docs?: boolean
}

/** The settings the document states; the validated configuration satisfies it. */
export type OpenApiSettings = Pick<
  Config,
  | 'ACCESS_TOKEN_TTL_SECONDS'
  | 'REFRESH_TOKEN_TTL_SECONDS'
  | 'REFRESH_TOKEN_REUSE_INTERVAL_SECONDS'
  | 'BCRYPT_COST'
  | 'LOGIN_MAX_FAILURES'
  | 'LOGIN_WINDOW_SECONDS'
  | 'REGISTER_RATE_LIMIT'
  | 'REGISTER_RATE_WINDOW_SECONDS'
  | 'SESSION_MAX_AGE_SECONDS'
  | 'MAX_SESSIONS_PER_USER'
  | 'PASSWORD_RESET_TTL_SECONDS'
  | 'PASSWORD_RESET_EMAIL_LIMIT'
  | 'PASSWORD_RESET_IP_LIMIT'
  | 'PASSWORD_RESET_WINDOW_SECONDS'
  | 'ADMIN_MAX_AUTH_AGE_SECONDS'
  | 'AUDIT_RETENTION_DAYS'
>

/** A JSON object in the document; the generator writes plain data only. */
export type OpenApiObject = { [key: string]: unknown }

export interface OpenApiDocument {
  openapi: '3.1.0'
  info: OpenApiObject
  servers: OpenApiObject[]
  tags: OpenApiObject[]
  paths: Record<string, Record<string, OpenApiObject>>
  components: {
    schemas: Record<string, OpenApiObject>
    responses: Record<string, OpenApiObject>
    headers: Record<string, OpenApiObject>
    securitySchemes: Record<string, OpenApiObject>
  }
}

const TOKEN_FUNCTION = 'token'

// Actions with no JSON Schema equivalent, described in words instead (the property descriptions below). Any other action that cannot
// be converted makes the generator throw, so a new rule in shared/domain/schemas.ts cannot go silently undocumented.
const DESCRIBED_IN_WORDS = new Set(['check', 'trim', 'to_lower_case', 'transform'])

const EMAIL =
  `Trimmed and lowercased as a whole, then an ASCII address of at most ${EMAIL_MAX_LENGTH} characters. ` +
  'Accounts are unique in that form: `Alice@Example.COM` and `alice@example.com` are one account.'
const NEW_PASSWORD =
  `${PASSWORD_MIN_BYTES} to ${PASSWORD_MAX_BYTES} bytes of UTF-8, kept exactly as typed (never trimmed or normalised). ` +
  'A password on the service’s blocklist (the 100,000 most common passwords of a public list of breached ones, ' +
  'compared lower-cased) is refused with 422 and a `msg` that says so.'
const PASSWORD =
  'Any value other than the account’s password, whatever its length, is simply a wrong password.'
const USERNAME = 'Optional: 3 to 50 characters of `A-Z a-z 0-9 _ . -`, unique regardless of case.'

const count = (amount: number, noun: string) => `${amount} ${noun}${amount === 1 ? '' : 's'}`

const UNITS = [
  [86_400, 'day'],
  [3600, 'hour'],
  [60, 'minute'],
  [1, 'second'],
] as const

/** A whole number of seconds in words, in the largest unit that divides it: `15 minutes`, `7 days`, `90 seconds`. */
function duration(seconds: number): string {
  const [size, unit] = UNITS.find(([size]) => seconds % size === 0) ?? [1, 'second']
  return count(seconds / size, unit)
}

const conversion = (typeMode: 'input' | 'ignore'): ConversionConfig => ({
  target: 'draft-2020-12',
  typeMode,
  overrideAction: ({ valibotAction, jsonSchema }) =>
    DESCRIBED_IN_WORDS.has(valibotAction.type) ? jsonSchema : undefined,
  overrideSchema: ({ valibotSchema }) => {
    // The token form's scope, client_id and client_secret: accepted (Swagger UI sends them) and ignored.
    if (valibotSchema.type === 'unknown') return { type: 'string', description: 'Accepted and ignored.' }
    return undefined
  },
})

/** A valibot schema as an OpenAPI 3.1 schema object (JSON Schema 2020-12); requests are described as sent. */
function jsonSchema(
  schema: v.GenericSchema,
  typeMode: 'input' | 'ignore',
  extra: JsonSchema = {},
): OpenApiObject {
  const { $schema: _dialect, ...converted } = toJsonSchema(schema, conversion(typeMode))
  return { ...converted, ...extra } as OpenApiObject
}

const withPropertyDescriptions = (schema: OpenApiObject, descriptions: Record<string, string>) => {
  const properties = schema.properties as Record<string, OpenApiObject>
  for (const [name, description] of Object.entries(descriptions)) {
    const property = properties[name]
    if (!property) throw new Error(`no property ${name} to describe`)
    property.description = description
  }
  return schema
}

const ref = (kind: 'schemas' | 'responses' | 'headers', name: string) => ({
  $ref: `#/components/${kind}/${name}`,
})

const json = (schema: string, example?: unknown): OpenApiObject => ({
  'application/json': { schema: ref('schemas', schema), ...(example === undefined ? {} : { example }) },
})

const response = (description: string, content?: OpenApiObject, headers: string[] = []): OpenApiObject => ({
  description,
  ...(headers.length > 0
    ? { headers: Object.fromEntries(headers.map((name) => [name, ref('headers', name)])) }
    : {}),
  ...(content ? { content } : {}),
})

const EXAMPLE_JWK = {
  kty: 'RSA',
  n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
  e: 'AQAB',
  kid: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs',
  alg: 'RS256',
  use: 'sig',
}
const EXAMPLE_ISSUER = 'https://abc123.execute-api.eu-west-1.amazonaws.com'
const EXAMPLE_DISCOVERY = {
  issuer: EXAMPLE_ISSUER,
  jwks_uri: `${EXAMPLE_ISSUER}/.well-known/jwks.json`,
  token_endpoint: `${EXAMPLE_ISSUER}/api/v1/auth/token`,
  grant_types_supported: ['password', 'refresh_token'],
  response_types_supported: [],
  subject_types_supported: ['public'],
  id_token_signing_alg_values_supported: ['RS256'],
  token_endpoint_auth_methods_supported: ['none'],
}

const EXAMPLE_USER: PublicUser = {
  id: 1,
  email: 'alice@example.com',
  username: 'alice',
  is_active: true,
  is_superuser: false,
  email_verified: true,
  created_at: '2025-01-01T12:00:00.000+00:00',
  updated_at: '2025-01-01T12:00:00.000+00:00',
}

const EXAMPLE_SESSION: PublicSession = {
  id: '9b2f6c1e-3d4a-4f5b-8c6d-7e8f9a0b1c2d',
  created_at: '2025-01-01T12:00:00.000+00:00',
  last_used_at: '2025-01-02T08:30:00.000+00:00',
  ip: '203.0.113.7',
  user_agent: 'Mozilla/5.0',
  current: true,
}

const EXAMPLE_EXPORT: AccountExport = {
  format: 'papa-auth.account-export',
  version: 1,
  exported_at: '2025-01-02T09:00:00.000+00:00',
  user: EXAMPLE_USER,
  sessions: [
    {
      id: EXAMPLE_SESSION.id,
      created_at: EXAMPLE_SESSION.created_at,
      last_used_at: EXAMPLE_SESSION.last_used_at,
      expires_at: '2025-01-09T08:30:00.000+00:00',
      revoked_at: null,
      revoked_reason: null,
      source_ip: EXAMPLE_SESSION.ip,
      user_agent: EXAMPLE_SESSION.user_agent,
      current: true,
    },
    {
      id: '3c1d2e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f',
      created_at: '2024-12-20T18:00:00.000+00:00',
      last_used_at: '2024-12-21T07:45:00.000+00:00',
      expires_at: '2024-12-22T10:00:00.000+00:00',
      revoked_at: '2024-12-22T10:00:00.000+00:00',
      revoked_reason: 'logout',
      source_ip: '198.51.100.23',
      user_agent: 'Mozilla/5.0 (iPhone)',
      current: false,
    },
  ],
  security_events: [
    {
      type: 'login_success',
      created_at: '2025-01-01T12:00:00.000+00:00',
      source_ip: '203.0.113.7',
      user_agent: 'Mozilla/5.0',
      email: EXAMPLE_USER.email,
      by_administrator: false,
      details: null,
    },
    {
      type: 'admin_sessions_ended',
      created_at: '2024-12-22T10:00:00.000+00:00',
      source_ip: null,
      user_agent: null,
      email: null,
      by_administrator: true,
      details: { sessions_ended: 1 },
    },
    {
      type: 'register',
      created_at: '2024-12-20T17:58:00.000+00:00',
      source_ip: '198.51.100.23',
      user_agent: 'Mozilla/5.0 (iPhone)',
      email: EXAMPLE_USER.email,
      by_administrator: false,
      details: null,
    },
  ],
  limits: { sessions: EXPORT_LIMITS.sessions, security_events: EXPORT_LIMITS.securityEvents },
  truncated: { sessions: false, security_events: false },
}

/** A refresh token's shape (256 random bits, base64url); no token of any deployment. */
const EXAMPLE_REFRESH_TOKEN = 'k3JxQ8vN2mR5tW7yZ0aC4eG6iK9oS1uX3bD5fH7jL9n'

const exampleTokens = (settings: OpenApiSettings) => ({
  access_token: 'eyJhbGciOiJIUzI1NiIsInR5cCI6ImF0K2p3dCJ9.…',
  refresh_token: EXAMPLE_REFRESH_TOKEN,
  token_type: 'bearer',
  expires_in: settings.ACCESS_TOKEN_TTL_SECONDS,
})

/**
 * The example account every request body is filled in for: registered as it stands by `POST /auth/register`, then
 * the credentials of Swagger UI's *Authorize*. Its passwords pass the length rule and the blocklist (the tests hold
 * every example to the schema its function validates with).
 */
export const EXAMPLE_ACCOUNT = {
  email: EXAMPLE_USER.email,
  username: EXAMPLE_USER.username as string,
  password: 'correct horse battery staple',
  /** What the password change and the reset confirm set. */
  newPassword: 'plum harbour lantern 42',
  /** The address the email change moves to. */
  newEmail: 'alice.new@example.com',
} as const
/** A mailed link's token or code cannot be known in advance: these are valid input that no link or code has. */
const EXAMPLE_LINK_TOKEN = 'Hq4T0pW9xJ2cL7vB5nM8kR1sF6gD3aZ0yE4uI7oP2wQ'
const EXAMPLE_CODE = '123456'

/** A request body: the valibot schema its function validates with, the words for its fields, what Swagger UI fills in. */
interface RequestBodySpec<S extends v.GenericSchema = v.GenericSchema> {
  schema: S
  /** Each field's description, by name. */
  fields?: Record<string, string>
  /** JSON Schema keywords the valibot schema cannot say. */
  extra?: JsonSchema
  /** A form (`application/x-www-form-urlencoded`), not JSON: Swagger UI fills a form field by field. */
  form?: true
  /** Valid input, filled in by Swagger UI so that Execute runs as it stands. */
  example?: v.InferInput<S>
  /** Named examples instead, the first filled in. */
  examples?: Record<string, { summary: string; value: v.InferInput<S> }>
}

const body = <S extends v.GenericSchema>(spec: RequestBodySpec<S>) => spec

/**
 * Every request body the functions take, by its name in the document. Each example is valid input (the tests parse
 * it with the function's own schema), so Execute never answers 422 for what Swagger UI filled in: a confirm whose
 * token or code only a mail holds answers its documented 400 until the real one is pasted.
 */
export const REQUEST_BODIES = {
  UserCreate: body({
    schema: RegisterBodySchema,
    fields: { email: EMAIL, password: NEW_PASSWORD, username: USERNAME },
    example: {
      email: EXAMPLE_ACCOUNT.email,
      password: EXAMPLE_ACCOUNT.password,
      username: EXAMPLE_ACCOUNT.username,
    },
  }),
  UserLogin: body({
    schema: LoginBodySchema,
    fields: { email: 'The account’s email, in any case.', password: PASSWORD },
    example: { email: EXAMPLE_ACCOUNT.email, password: EXAMPLE_ACCOUNT.password },
  }),
  TokenForm: body({
    schema: TokenFormSchema,
    form: true,
    extra: { description: 'An empty value counts as missing; a repeated parameter is `invalid_request`.' },
    fields: {
      grant_type: '`password` (the default when absent) or `refresh_token`.',
      username: 'The account’s email (`password` grant).',
      password: 'The account’s password (`password` grant).',
      refresh_token: 'A refresh token (`refresh_token` grant); empty for the `password` grant.',
    },
    example: { grant_type: 'password', username: EXAMPLE_ACCOUNT.email, password: EXAMPLE_ACCOUNT.password },
  }),
  RefreshTokenRequest: body({ schema: RefreshBodySchema, example: { refresh_token: EXAMPLE_REFRESH_TOKEN } }),
  PasswordResetRequest: body({
    schema: PasswordResetBodySchema,
    fields: { email: `${EMAIL} Any valid address is accepted, with an account or not.` },
    example: { email: EXAMPLE_ACCOUNT.email },
  }),
  PasswordResetConfirm: body({
    schema: PasswordResetConfirmBodySchema,
    fields: {
      token: 'The token of the reset link, as the front-end’s page received it in its URL.',
      new_password: NEW_PASSWORD,
    },
    example: { token: EXAMPLE_LINK_TOKEN, new_password: EXAMPLE_ACCOUNT.newPassword },
  }),
  PreferencesUpdate: body({
    schema: PreferencesBodySchema,
    example: { exam_board: 'WAEC', subjects: ['Physics', 'Chemistry'] },
  }),
  AccountDeletion: body({
    schema: DeleteAccountBodySchema,
    fields: { current_password: 'The account’s password now.' },
    example: { current_password: EXAMPLE_ACCOUNT.password },
  }),
  AccountDeletionRequest: body({
    schema: AccountDeletionBodySchema,
    fields: { email: `${EMAIL} Any valid address is accepted, with an account or not.` },
    example: { email: EXAMPLE_ACCOUNT.email },
  }),
  AccountDeletionConfirm: body({
    schema: AccountDeletionConfirmBodySchema,
    fields: { token: 'The token of the deletion link, as the front-end’s page received it in its URL.' },
    example: { token: EXAMPLE_LINK_TOKEN },
  }),
  EmailVerificationRequest: body({
    schema: EmailVerificationBodySchema,
    fields: { email: `${EMAIL} Any valid address is accepted, with an account or not.` },
    example: { email: EXAMPLE_ACCOUNT.email },
  }),
  EmailVerificationConfirm: body({
    schema: EmailVerificationConfirmBodySchema,
    fields: { email: 'The account’s email, in any case.', code: 'The 6-digit code of the mail.' },
    example: { email: EXAMPLE_ACCOUNT.email, code: EXAMPLE_CODE },
  }),
  EmailChange: body({
    schema: EmailChangeBodySchema,
    fields: {
      new_email: `${EMAIL} The address to move the account to.`,
      current_password: 'The account’s password now.',
    },
    example: { new_email: EXAMPLE_ACCOUNT.newEmail, current_password: EXAMPLE_ACCOUNT.password },
  }),
  EmailChangeConfirm: body({
    schema: EmailChangeConfirmBodySchema,
    fields: { code: 'The 6-digit code mailed to the new address.' },
    example: { code: EXAMPLE_CODE },
  }),
  PasswordChange: body({
    schema: ChangePasswordBodySchema,
    fields: { current_password: 'The account’s password now.', new_password: NEW_PASSWORD },
    example: { current_password: EXAMPLE_ACCOUNT.password, new_password: EXAMPLE_ACCOUNT.newPassword },
  }),
  AdminUserUpdate: body({
    schema: AdminUserPatchSchema,
    extra: { minProperties: 1, description: 'At least one of the two; any other field is refused (422).' },
    fields: {
      is_active:
        '`false` deactivates: every session of the account ends at once and its logins are refused; ' +
        '`true` reactivates.',
      is_superuser: '`true` makes the account a superuser; `false` takes it away.',
    },
    examples: {
      deactivate: { summary: 'Deactivate (every session ends at once)', value: { is_active: false } },
      reactivate: { summary: 'Reactivate (the user logs in again)', value: { is_active: true } },
      promote: { summary: 'Make a superuser', value: { is_superuser: true } },
      demote: { summary: 'No longer a superuser', value: { is_superuser: false } },
    },
  }),
} satisfies Record<string, RequestBodySpec>

export type RequestBodyName = keyof typeof REQUEST_BODIES

/**
 * A request body's schema in the document. A form's fields each carry their example (Swagger UI fills a form from its
 * fields' examples, not the body's; a field the example leaves out is filled in empty, which counts as missing).
 */
function requestBodySchema(spec: RequestBodySpec): OpenApiObject {
  const schema = withPropertyDescriptions(jsonSchema(spec.schema, 'input', spec.extra), spec.fields ?? {})
  if (spec.form) {
    const example = (spec.example ?? {}) as Record<string, unknown>
    for (const [name, property] of Object.entries(schema.properties as Record<string, OpenApiObject>))
      property.example = example[name] ?? ''
  }
  return schema
}

/** The `requestBody` of an operation that takes the body `name`, with what Swagger UI fills in. */
function requestBodyOf(name: RequestBodyName): OpenApiObject {
  const spec: RequestBodySpec = REQUEST_BODIES[name]
  const mediaType = spec.form ? FORM_MEDIA_TYPE : JSON_MEDIA_TYPE
  return {
    required: true,
    content: {
      [mediaType]: {
        schema: ref('schemas', name),
        ...(spec.form || spec.example === undefined ? {} : { example: spec.example }),
        ...(spec.examples ? { examples: spec.examples } : {}),
      },
    },
  }
}

const componentResponses = (settings: OpenApiSettings): Record<string, OpenApiObject> => ({
  ValidationFailed: response(
    'Invalid input, one entry per problem; malformed JSON too, with `loc: ["body"]`.',
    json('HTTPValidationError', {
      detail: [{ loc: ['body', 'email'], msg: 'value is not a valid email address', type: 'value_error' }],
    }),
  ),
  PayloadTooLarge: response(
    `A body over ${MAX_BODY_BYTES / 1024} KiB, refused without being parsed.`,
    json('HTTPError', { detail: 'Request body too large' }),
  ),
  UnsupportedMediaType: unsupportedMediaType(JSON_MEDIA_TYPE),
  TooManyAttempts: response(
    `${count(settings.LOGIN_MAX_FAILURES, 'consecutive failed login')} for this email within ` +
      `${duration(settings.LOGIN_WINDOW_SECONDS)}: refused, even with the right password, until \`Retry-After\` ` +
      'seconds have passed.',
    json('HTTPError', { detail: 'Too many failed login attempts' }),
    ['Retry-After'],
  ),
  RegistrationLimited: response(
    `More than ${count(settings.REGISTER_RATE_LIMIT, 'registration attempt')} from this source address within ` +
      `${duration(settings.REGISTER_RATE_WINDOW_SECONDS)}; try again after \`Retry-After\` seconds.`,
    json('HTTPError', { detail: 'Too many registrations from this address' }),
    ['Retry-After'],
  ),
  PasswordResetLimited: response(
    `More than ${count(settings.PASSWORD_RESET_EMAIL_LIMIT, 'reset request')} for this email (any email, with an ` +
      `account or not) or ${count(settings.PASSWORD_RESET_IP_LIMIT, 'reset request')} from this source address ` +
      `within ${duration(settings.PASSWORD_RESET_WINDOW_SECONDS)}; try again after \`Retry-After\` seconds.`,
    json('HTTPError', { detail: 'Too many password reset requests' }),
    ['Retry-After'],
  ),
  AccountDeletionLimited: response(
    `More than ${count(settings.PASSWORD_RESET_EMAIL_LIMIT, 'deletion-link request')} for this email (any email, ` +
      `with an account or not) or ${count(settings.PASSWORD_RESET_IP_LIMIT, 'deletion-link request')} from this ` +
      `source address within ${duration(settings.PASSWORD_RESET_WINDOW_SECONDS)}; try again after \`Retry-After\` ` +
      'seconds.',
    json('HTTPError', { detail: 'Too many account deletion requests' }),
    ['Retry-After'],
  ),
  EmailCodeLimited: response(
    `More than ${count(settings.PASSWORD_RESET_EMAIL_LIMIT, 'code request')} for this email (any email, with an ` +
      `account or not) or ${count(settings.PASSWORD_RESET_IP_LIMIT, 'code request')} from this source address ` +
      `within ${duration(settings.PASSWORD_RESET_WINDOW_SECONDS)}; try again after \`Retry-After\` seconds.`,
    json('HTTPError', { detail: 'Too many code requests' }),
    ['Retry-After'],
  ),
  InvalidEmailCode: response(
    'The code is wrong, expired (a code works a quarter of an hour), used, replaced by a newer one or out of tries (5 wrong ' +
      'guesses void it), or none is pending: one answer for all of them.',
    json('HTTPError', { detail: 'Invalid or expired code' }),
  ),
  NotAuthenticated: response(
    'No `Authorization: Bearer` header (`"Not authenticated"`), or a token that is invalid, expired, of the ' +
      'wrong kind, or whose user is gone or inactive (`"Could not validate credentials"`).',
    json('HTTPError', { detail: 'Not authenticated' }),
    ['WWW-Authenticate'],
  ),
  AdminNotAuthenticated: {
    description:
      'No `Authorization: Bearer` header (`"Not authenticated"`); a token that is invalid, expired, of the wrong ' +
      'kind, of a session that has ended, or whose user is gone or inactive (`"Could not validate credentials"`); ' +
      'or a superuser’s token from a login (`auth_time`: the session’s login, which a refresh does not renew) more ' +
      `than ${duration(settings.ADMIN_MAX_AUTH_AGE_SECONDS)} ago (\`ADMIN_MAX_AUTH_AGE_SECONDS\`): ` +
      `\`"A more recent login is required"\`, with \`WWW-Authenticate: ${staleLoginChallenge(settings)}\` ` +
      '(RFC 9470). Then log in again (the token endpoint or login) and repeat the request with the new access token.',
    headers: { 'WWW-Authenticate': ref('headers', 'WWW-Authenticate-RecentLogin') },
    content: {
      'application/json': {
        schema: ref('schemas', 'HTTPError'),
        examples: {
          notAuthenticated: { summary: 'No token', value: { detail: 'Not authenticated' } },
          invalidToken: { summary: 'A refused token', value: { detail: 'Could not validate credentials' } },
          staleLogin: {
            summary: `A login more than ${duration(settings.ADMIN_MAX_AUTH_AGE_SECONDS)} ago`,
            value: { detail: 'A more recent login is required' },
          },
        },
      },
    },
  },
  InsufficientPrivileges: response(
    'A valid token, but its user is not a superuser.',
    json('HTTPError', { detail: "The user doesn't have enough privileges" }),
  ),
  UserNotFound: response('No account has this id.', json('HTTPError', { detail: 'User not found' })),
  LastSuperuser: response(
    'The account is the last active superuser: the change would leave the service without one. Promote another ' +
      'account first. Two such changes at the same moment queue, and the second is refused.',
    json('HTTPError', { detail: 'The service must keep at least one active superuser' }),
  ),
  TokenRefusedByGateway: response(
    'No token (`WWW-Authenticate: Bearer`), or a malformed, expired, foreign or otherwise refused one ' +
      '(`WWW-Authenticate: Bearer scope="" error="invalid_token" error_description="…"`): API Gateway’s ' +
      'answer, not the service’s.',
    json('GatewayUnauthorized', { message: 'Unauthorized' }),
    ['WWW-Authenticate'],
  ),
  ServiceUnavailable: response(
    'The database cannot be reached; try again after `Retry-After` seconds.',
    json('HTTPError', { detail: 'Service temporarily unavailable' }),
    ['Retry-After'],
  ),
  InternalServerError: response(
    'Anything unexpected. The body never carries details.',
    json('HTTPError', { detail: 'Internal Server Error' }),
  ),
  NotFound: response('Any path that is not a route of this API.', json('HTTPError', { detail: 'Not Found' })),
  MethodNotAllowed: response(
    'A path of this API asked with another method; `Allow` lists the methods it takes.',
    json('HTTPError', { detail: 'Method Not Allowed' }),
    ['Allow'],
  ),
})

/** The 415 of a route that takes `mediaType`: its `detail` names the type to send, as `UnsupportedMediaTypeError` says. */
const unsupportedMediaType = (mediaType: string) =>
  response(
    `The body was sent with another \`Content-Type\` than \`${mediaType}\` (or none): \`detail\` names the type to send.`,
    json('HTTPError', { detail: `Unsupported Media Type: send ${mediaType}` }),
  )

/** What an admin route answers a superuser whose login is too old (RFC 9470 §3), as configured. */
export const staleLoginChallenge = (settings: Pick<OpenApiSettings, 'ADMIN_MAX_AUTH_AGE_SECONDS'>) =>
  'Bearer error="insufficient_user_authentication", error_description="A more recent login is required", ' +
  `max_age="${settings.ADMIN_MAX_AUTH_AGE_SECONDS}"`

const COMPONENT_HEADERS: Record<string, OpenApiObject> = {
  'WWW-Authenticate': {
    description: '`Bearer`, or `Bearer error="invalid_token"` when a token was sent (RFC 6750 §3).',
    schema: { type: 'string' },
  },
  'WWW-Authenticate-RecentLogin': {
    description:
      '`Bearer` without a token; `Bearer error="invalid_token"` for a refused one (RFC 6750 §3); for a login too ' +
      'old, `Bearer error="insufficient_user_authentication", error_description="A more recent login is required", ' +
      'max_age="…"` (RFC 9470 §3), `max_age` being the most seconds since the login an admin route accepts.',
    schema: { type: 'string' },
  },
  'Retry-After': {
    description: 'Seconds to wait before trying again.',
    schema: { type: 'integer', minimum: 0 },
  },
  Allow: { description: 'The methods this path takes, comma-separated.', schema: { type: 'string' } },
  'Cache-Control': {
    description: 'Responses that carry tokens or an account’s data are never stored.',
    schema: { const: 'no-store' },
  },
  'Content-Disposition': {
    description:
      'A download: `attachment; filename="account-export-<user id>-<YYYY-MM-DD>.json"`, the day (UTC) it was made.',
    schema: {
      type: 'string',
      pattern: '^attachment; filename="account-export-[0-9]+-[0-9]{4}-[0-9]{2}-[0-9]{2}[.]json"$',
    },
  },
  Pragma: { description: 'As `Cache-Control`, for HTTP/1.0 caches.', schema: { const: 'no-cache' } },
}

/**
 * A request that queues mail, when no mail is configured or the database or the queue cannot be reached; `feature` is
 * what the 503's text names.
 */
const mailUnavailable = (feature = 'Password reset'): OpenApiObject => ({
  description:
    `This deployment sends no mail (\`"${feature} by email is not configured on this server"\`, without ` +
    '`Retry-After`: asking again will not help), or the database or the mail queue cannot be reached ' +
    '(`"Service temporarily unavailable"`; try again after `Retry-After` seconds).',
  headers: {
    'Retry-After': {
      description: 'With `"Service temporarily unavailable"` only: seconds to wait before trying again.',
      required: false,
      schema: { type: 'integer', minimum: 0 },
    },
  },
  content: {
    'application/json': {
      schema: ref('schemas', 'HTTPError'),
      examples: {
        notConfigured: {
          summary: 'No mail configured',
          value: { detail: `${feature} by email is not configured on this server` },
        },
        unavailable: {
          summary: 'Database or mail queue unreachable',
          value: { detail: 'Service temporarily unavailable' },
        },
      },
    },
  },
})
const MAIL_UNAVAILABLE = mailUnavailable()

/** The largest id PostgreSQL's `serial` makes: the largest a path's `id` may be. */
const MAX_USER_ID = 2_147_483_647

/**
 * The `id` of an admin route's path. `example` fills Swagger UI's field; the routes that act on an account have none,
 * so that Execute never acts on an account nobody typed.
 */
const userIdParameter = (example?: number): OpenApiObject => ({
  name: 'id',
  in: 'path',
  required: true,
  description:
    'The account’s `id`, as `GET /admin/users` lists it: a whole number written plainly (`7`, not `07` or `7.0`); ' +
    'anything else is 422, an id no account has 404.',
  schema: { type: 'integer', minimum: 1, maximum: MAX_USER_ID },
  ...(example === undefined ? {} : { example }),
})

/** The list's query parameters, each from the valibot schema the function checks them with, `limit` as the number it is. */
function listParameters(): OpenApiObject[] {
  const converted = jsonSchema(AdminUserListQuerySchema, 'input').properties as Record<string, OpenApiObject>
  const query = (name: string, description: string, schema = converted[name]): OpenApiObject => {
    if (!schema) throw new Error(`no query parameter ${name} to describe`)
    return { name, in: 'query', required: false, description, schema }
  }
  return [
    query(
      'limit',
      `How many accounts a page holds: 1 to ${ADMIN_PAGE_MAX}, ${ADMIN_PAGE_DEFAULT} when absent.`,
      { type: 'integer', minimum: 1, maximum: ADMIN_PAGE_MAX, default: ADMIN_PAGE_DEFAULT },
    ),
    query(
      'cursor',
      'The `next_cursor` of the page before, as it was given; absent for the first page. A cursor this service did ' +
        'not make is 422.',
    ),
    query(
      'q',
      'The start of an email or a username, without regard to case (trimmed first): `ali` finds ' +
        '`alice@example.com` and the username `Alice_B`; `%` and `_` match only themselves. Absent: every account.',
    ),
    query('is_active', '`true`: active accounts only; `false`: deactivated ones only; absent: both.'),
    query('is_superuser', '`true`: superusers only; `false`: the others only; absent: both.'),
  ]
}

/** A 422 of the admin routes, with an example of each input it is about (`loc` says where). */
const invalidInput = (
  description: string,
  examples: Record<string, { summary: string; loc: (string | number)[]; msg: string; type: string }>,
): OpenApiObject => ({
  description,
  content: {
    'application/json': {
      schema: ref('schemas', 'HTTPValidationError'),
      examples: Object.fromEntries(
        Object.entries(examples).map(([name, { summary, loc, msg, type }]) => [
          name,
          { summary, value: { detail: [{ loc, msg, type }] } },
        ]),
      ),
    },
  },
})

const INVALID_USER_ID = {
  summary: 'An id that is not a whole number',
  loc: ['path', 'id'],
  msg: 'Input should be a valid integer',
  type: 'value_error',
}
const INVALID_ID_ONLY = invalidInput('The `id` is not a whole number from 1 to 2147483647.', {
  id: INVALID_USER_ID,
})

const EXAMPLE_USER_PAGE = {
  items: [
    { ...EXAMPLE_USER, id: 42, email: 'bob@example.com', username: 'bob' },
    { ...EXAMPLE_USER, id: 41, email: 'carol@example.com', username: null, is_active: false },
  ],
  next_cursor: 'dTQx',
}

interface OperationSpec {
  tag: string
  summary: string
  description?: string
  requestBody?: OpenApiObject
  /** Path parameters, for a route with `{name}` segments. */
  parameters?: OpenApiObject[]
  responses: Record<string, OpenApiObject>
}

const BODY_ERRORS = ['413', '415', '422']

/** The operation each function implements, by function name; the route table says where it is mounted. */
function operations(tokenPath: string, settings: OpenApiSettings): Record<string, OperationSpec> {
  const errors = (...statuses: string[]) =>
    Object.fromEntries(statuses.map((status) => [status, ref('responses', STATUS_RESPONSES[status] ?? '')]))
  const tokenResponse = (description: string) =>
    response(description, json('Token', exampleTokens(settings)), ['Cache-Control', 'Pragma'])
  return {
    register: {
      tag: 'auth',
      summary: 'Create an account',
      description:
        'Unknown fields are ignored: `is_superuser` in the body has no effect. The password is stored only as a ' +
        `bcrypt hash of cost ${settings.BCRYPT_COST}.`,
      requestBody: requestBodyOf('UserCreate'),
      responses: {
        '201': response('The new account.', json('User', EXAMPLE_USER)),
        '400': response(
          'The email (`"User with this email already exists"`) or the username ' +
            '(`"User with this username already exists"`) is taken.',
          json('HTTPError', { detail: 'User with this email already exists' }),
        ),
        '429': ref('responses', 'RegistrationLimited'),
        ...errors(...BODY_ERRORS, '500', '503'),
      },
    },
    login: {
      tag: 'auth',
      summary: 'Log in with a JSON body',
      description: `For programs. Swagger UI and OAuth 2.0 clients use \`${tokenPath}\` instead.`,
      requestBody: requestBodyOf('UserLogin'),
      responses: {
        '200': tokenResponse('A new token pair.'),
        '401': response(
          'Unknown email, wrong password or inactive account: deliberately indistinguishable.',
          json('HTTPError', { detail: 'Incorrect email or password' }),
          ['WWW-Authenticate'],
        ),
        ...errors(...BODY_ERRORS, '429', '500', '503'),
      },
    },
    token: {
      tag: 'auth',
      summary: 'OAuth 2.0 token endpoint (password and refresh_token grants)',
      description:
        'RFC 6749 §4.3 and §6, as a form. This is the `tokenUrl` of the `OAuth2PasswordBearer` scheme: Swagger ' +
        'UI’s Authorize button calls it. `Authorization: Basic` and the client fields are accepted and ignored.',
      requestBody: requestBodyOf('TokenForm'),
      responses: {
        '200': tokenResponse('A new token pair.'),
        '400': response(
          '`invalid_grant` for wrong credentials or a bad refresh token, `invalid_request` for a missing or ' +
            'repeated parameter, `unsupported_grant_type` for any other grant.',
          json('OAuthError', { error: 'invalid_grant', error_description: 'Incorrect email or password' }),
          ['Cache-Control', 'Pragma'],
        ),
        '415': unsupportedMediaType(FORM_MEDIA_TYPE),
        ...errors('413', '429', '500', '503'),
      },
    },
    refresh: {
      tag: 'auth',
      summary: 'Exchange a refresh token for a new pair',
      description: reuseRule(settings),
      requestBody: requestBodyOf('RefreshTokenRequest'),
      responses: {
        '200': tokenResponse('A new token pair; the refresh token sent is now retired.'),
        '401': response(
          'Invalid, expired, retired or revoked refresh token.',
          json('HTTPError', { detail: 'Could not validate credentials' }),
          ['WWW-Authenticate'],
        ),
        ...errors(...BODY_ERRORS, '500', '503'),
      },
    },
    logout: {
      tag: 'auth',
      summary: 'Log out: end the session of a refresh token, every token of it',
      description: 'Idempotent: an unknown, retired or already revoked token is accepted too.',
      requestBody: requestBodyOf('RefreshTokenRequest'),
      responses: {
        '204': response('Revoked.'),
        ...errors(...BODY_ERRORS, '500', '503'),
      },
    },
    'password-reset': {
      tag: 'auth',
      summary: 'Ask for a password-reset link by email',
      description:
        'Answered with one fixed body (202) whether or not the address has an account, and in the same time; an ' +
        'active account is mailed a link to the front-end’s reset page (the deployment’s `PASSWORD_RESET_URL`) ' +
        'carrying a single-use token. The link works for ' +
        `${duration(settings.PASSWORD_RESET_TTL_SECONDS)} from the request, and only the newest one does. At most ` +
        `${count(settings.PASSWORD_RESET_EMAIL_LIMIT, 'request')} per email and ` +
        `${count(settings.PASSWORD_RESET_IP_LIMIT, 'request')} per source address within ` +
        `${duration(settings.PASSWORD_RESET_WINDOW_SECONDS)}, counted for every email alike.`,
      requestBody: requestBodyOf('PasswordResetRequest'),
      responses: {
        '202': response(
          'Accepted: the same body for every email. The mail, if any, is sent after the answer.',
          json('PasswordResetAccepted', {
            detail: 'If an account with this email exists, a link to reset its password has been sent.',
          }),
        ),
        '429': ref('responses', 'PasswordResetLimited'),
        '503': MAIL_UNAVAILABLE,
        ...errors(...BODY_ERRORS, '500'),
      },
    },
    'password-reset-confirm': {
      tag: 'auth',
      summary: 'Set a new password with the token of a reset link',
      description:
        'The token is the one the mailed link carries (its `{token}`). The link is used up, every session of the ' +
        'account is ended (its refresh and access tokens are refused from now on), the failed-login count is ' +
        'cleared and a notice is mailed; then log in with the new password. The new password follows the ' +
        'registration rules.',
      requestBody: requestBodyOf('PasswordResetConfirm'),
      responses: {
        '204': response('The password is changed.'),
        '400': response(
          'The token is used, expired (a link works ' +
            `${duration(settings.PASSWORD_RESET_TTL_SECONDS)} from its request), voided by a newer request, or ` +
            'unknown: one answer for all of them.',
          json('HTTPError', { detail: 'Invalid or expired password reset token' }),
        ),
        ...errors(...BODY_ERRORS, '500', '503'),
      },
    },
    'email-verification': {
      tag: 'auth',
      summary: 'Ask for a code that verifies an account’s email',
      description:
        'Answered with one fixed body (202) whether or not the address has an account, is active or is verified ' +
        'already, and in the same time; an active account with an unverified address is mailed a 6-digit code, ' +
        'valid a quarter of an hour; only the newest one works. No sign-in needed. Limited as the password reset is, counted apart.',
      requestBody: requestBodyOf('EmailVerificationRequest'),
      responses: {
        '202': response(
          'Accepted: the same body for every email. The mail, if any, is sent after the answer.',
          json('EmailVerificationAccepted', {
            detail: 'If an account with this email needs verifying, a code has been sent to it.',
          }),
        ),
        '429': ref('responses', 'EmailCodeLimited'),
        '503': MAIL_UNAVAILABLE,
        ...errors(...BODY_ERRORS, '500'),
      },
    },
    'email-verification-confirm': {
      tag: 'auth',
      summary: 'Verify an account’s email with the mailed code',
      description:
        'A wrong code counts a try; the fifth wrong one voids the code. The access tokens issued from now on ' +
        'carry `email_verified: true`.',
      requestBody: requestBodyOf('EmailVerificationConfirm'),
      responses: {
        '200': response('Verified: the account as it now is.', json('User', EXAMPLE_USER)),
        '400': ref('responses', 'InvalidEmailCode'),
        ...errors(...BODY_ERRORS, '500', '503'),
      },
    },
    'email-change': {
      tag: 'users',
      summary: 'Ask to move the current user to a new email',
      description:
        'The current password is checked as a login checks it (a wrong one counts towards the failed-login lock). A ' +
        '6-digit code, valid a quarter of an hour, is mailed to the new address; nothing changes until it is confirmed: the ' +
        'old address still signs in and still gets reset mail. An address that is already an account’s gets no code.',
      requestBody: requestBodyOf('EmailChange'),
      responses: {
        '202': response(
          'Accepted: the code is on its way to the new address.',
          json('EmailChangeAccepted', {
            detail: 'A code has been sent to the new address. The email changes once the code is confirmed.',
          }),
        ),
        '400': response(
          'The current password is wrong.',
          json('HTTPError', { detail: 'Incorrect password' }),
        ),
        '503': MAIL_UNAVAILABLE,
        ...errors(...BODY_ERRORS, '429', '500'),
      },
    },
    'email-change-confirm': {
      tag: 'users',
      summary: 'Confirm the new email with the code mailed to it',
      description:
        'The account moves to the new address, verified; the old address is mailed a notice and every other ' +
        'session is ended (the one of the access token sent is kept).',
      requestBody: requestBodyOf('EmailChangeConfirm'),
      responses: {
        '200': response('Moved: the account as it now is.', json('User', EXAMPLE_USER)),
        '400': response(
          'The code is wrong, expired, used, replaced or out of tries (`"Invalid or expired code"`), or the new ' +
            'address became another account’s meanwhile (`"User with this email already exists"`).',
          json('HTTPError', { detail: 'Invalid or expired code' }),
        ),
        ...errors(...BODY_ERRORS, '500', '503'),
      },
    },
    'get-preferences': {
      tag: 'users',
      summary: 'The current user’s study preferences',
      description:
        'The exam board and subjects the student follows; the defaults (`null`, `[]`, `updated_at: null`) until ' +
        'first saved. Read as the user behind row-level security: the database itself shows a student their own ' +
        'row only.',
      responses: {
        '200': response(
          'The preferences.',
          json('Preferences', {
            exam_board: 'WAEC',
            subjects: ['Physics', 'Chemistry'],
            updated_at: '2026-12-07T09:30:00.000Z',
          }),
        ),
        ...errors('500', '503'),
      },
    },
    'put-preferences': {
      tag: 'users',
      summary: 'Save the current user’s study preferences',
      description:
        'Replaces them whole (both fields required). Written as the user behind row-level security: the row is ' +
        'the caller’s, whatever the body says (a `user_id` in it is ignored).',
      requestBody: requestBodyOf('PreferencesUpdate'),
      responses: {
        '200': response(
          'The preferences as saved.',
          json('Preferences', {
            exam_board: 'WAEC',
            subjects: ['Physics', 'Chemistry'],
            updated_at: '2026-12-07T09:30:00.000Z',
          }),
        ),
        ...errors(...BODY_ERRORS, '500', '503'),
      },
    },
    'delete-account': {
      tag: 'users',
      summary: 'Delete the current user’s account',
      description:
        'Final and immediate: the email, username and password hash are erased, every session, refresh token, ' +
        'reset or deletion link and code of the account is refused from now on, and a notice is mailed to the ' +
        'address it had. The email is free to register again, as a new account with a new id. The audit trail ' +
        'keeps the id and what happened, never the email or username. The current password is checked as a login ' +
        'checks it (a wrong one counts towards the failed-login lock). A JSON body on `DELETE` is what the contract ' +
        'names: API Gateway passes it, and `fetch`, axios, OkHttp, URLSession and curl send it; a client library ' +
        'that cannot must set the body and its `Content-Length` by hand. The app-store rules (Apple 5.1.1(v), ' +
        'Google Play) ask for this inside the app; `POST /auth/account-deletion` serves the web page they also ask for.',
      requestBody: requestBodyOf('AccountDeletion'),
      responses: {
        '204': response('The account is gone; its tokens are refused from now on.'),
        '400': response(
          'The current password is wrong (counted as a failed login).',
          json('HTTPError', { detail: 'Incorrect password' }),
        ),
        '409': response(
          'The account is the last active superuser: promote another first (`PATCH /admin/users/{id}`).',
          json('HTTPError', { detail: 'The service must keep at least one active superuser' }),
        ),
        ...errors(...BODY_ERRORS, '429', '500', '503'),
      },
    },
    'account-deletion': {
      tag: 'auth',
      summary: 'Ask for an account-deletion link by email (the web page app stores ask for)',
      description:
        'For a deletion page on the web, and for a user who cannot sign in any more. As `POST /auth/password-reset`: ' +
        'one fixed body (202) whether or not the address has an account, and in the same time; an active account is ' +
        'mailed a link to the front-end’s deletion page (the deployment’s `ACCOUNT_DELETION_URL`) carrying a ' +
        `single-use token, live for ${duration(settings.PASSWORD_RESET_TTL_SECONDS)}; only the newest one works, and ` +
        'a password change voids it. Limited as the reset is, counted apart.',
      requestBody: requestBodyOf('AccountDeletionRequest'),
      responses: {
        '202': response(
          'Accepted: the same body for every email. The mail, if any, is sent after the answer.',
          json('AccountDeletionAccepted', {
            detail: 'If an account with this email exists, a link to delete it has been sent.',
          }),
        ),
        '429': ref('responses', 'AccountDeletionLimited'),
        '503': mailUnavailable('Account deletion'),
        ...errors(...BODY_ERRORS, '500'),
      },
    },
    'account-deletion-confirm': {
      tag: 'auth',
      summary: 'Delete an account with the token of a deletion link',
      description:
        'The token is the one the mailed link carries (its `{token}`). The account is erased as by ' +
        '`DELETE /users/me`, and a notice is mailed to the address it had. The link works once.',
      requestBody: requestBodyOf('AccountDeletionConfirm'),
      responses: {
        '204': response('The account is gone.'),
        '400': response(
          'The token is used, expired, voided (by a newer request or a password change) or unknown: one answer for ' +
            'all of them.',
          json('HTTPError', { detail: 'Invalid or expired account deletion token' }),
        ),
        '409': response(
          'The account is the last active superuser.',
          json('HTTPError', { detail: 'The service must keep at least one active superuser' }),
        ),
        ...errors(...BODY_ERRORS, '500', '503'),
      },
    },
    me: {
      tag: 'users',
      summary: 'The current user',
      responses: {
        '200': response('The account the access token belongs to.', json('User', EXAMPLE_USER)),
        ...errors('500', '503'),
      },
    },
    'list-sessions': {
      tag: 'users',
      summary: 'The current user’s live sessions',
      description:
        'A session starts at each login and lives while its refresh tokens are renewed (at most ' +
        `${duration(settings.SESSION_MAX_AGE_SECONDS)} after the login). ` +
        `A user holds at most ${count(settings.MAX_SESSIONS_PER_USER, 'live session')}: a login past that ends the ` +
        'oldest. `current` marks the session of the access token sent; `ip` and `user_agent` are those of its login.',
      responses: {
        '200': response('The live sessions, newest first.', json('SessionList', [EXAMPLE_SESSION])),
        ...errors('500', '503'),
      },
    },
    'export-account': {
      tag: 'users',
      summary: 'Download everything the service holds about the current user',
      description:
        'The right of access and to data portability (GDPR articles 15 and 20): one JSON document, offered as a ' +
        'file (`Content-Disposition: attachment`), with the account, its sessions (live and ended, as long as they ' +
        'are kept) and its own audit events (kept ' +
        `${count(settings.AUDIT_RETENTION_DAYS, 'day')}), each newest first. At most ` +
        `${EXPORT_LIMITS.sessions.toLocaleString('en-US')} sessions and ` +
        `${EXPORT_LIMITS.securityEvents.toLocaleString('en-US')} events, and at most ` +
        `${(EXPORT_BUDGET_BYTES.sessions / 1e6).toString()} MB and ${(EXPORT_BUDGET_BYTES.securityEvents / 1e6).toString()} MB ` +
        'of them, so that the answer always fits a function’s response; `truncated` says where older ones were left ' +
        'out. Never a password, a hash or a token, and nothing of another account: not which administrator acted on ' +
        'the account, nor from where; and none of the events whose existence would tell whether an address asked ' +
        'for in an email change is someone’s account (' +
        `${WITHHELD_EVENT_TYPES.map((type) => `\`${type}\``).join(', ')}). \`format\` and \`version\` name ` +
        'the shape: a change that is not additive comes with a new version.',
      responses: {
        '200': response(
          `The export, as the file \`${exportFileName(1, new Date('2025-01-02T09:00:00Z'))}\`.`,
          json('AccountExport', EXAMPLE_EXPORT),
          ['Content-Disposition', 'Cache-Control'],
        ),
        ...errors('500', '503'),
      },
    },
    'end-one-session': {
      tag: 'users',
      summary: 'End one of the current user’s sessions',
      description:
        'Its refresh tokens and access tokens are refused from now on. Ending a session already ended is accepted.',
      parameters: [
        {
          name: 'id',
          in: 'path',
          required: true,
          description:
            'The session’s `id`, as listed by `GET /users/me/sessions` (the example is no session’s: 404 until ' +
            'you paste one).',
          schema: { type: 'string', format: 'uuid' },
          example: EXAMPLE_SESSION.id,
        },
      ],
      responses: {
        '204': response('Ended.'),
        '404': response(
          'No session of this user has that id: unknown, another user’s, or not an id.',
          json('HTTPError', { detail: 'Not Found' }),
        ),
        ...errors('500', '503'),
      },
    },
    'end-all-sessions': {
      tag: 'users',
      summary: 'End every session of the current user, this one included',
      responses: {
        '204': response('Every session ended: all of the user’s tokens are refused from now on.'),
        ...errors('500', '503'),
      },
    },
    'change-password': {
      tag: 'users',
      summary: 'Change the current user’s password',
      description:
        'Every other session is ended; the one of the access token sent is kept. A wrong current password counts ' +
        `towards the failed-login lock exactly as a failed login does (${count(settings.LOGIN_MAX_FAILURES, 'failure')} ` +
        `within ${duration(settings.LOGIN_WINDOW_SECONDS)}, then 429).`,
      requestBody: requestBodyOf('PasswordChange'),
      responses: {
        '204': response('Changed.'),
        '400': response(
          'The current password is wrong (or was changed meanwhile by another request).',
          json('HTTPError', { detail: 'Incorrect password' }),
        ),
        ...errors(...BODY_ERRORS, '429', '500', '503'),
      },
    },
    'admin-list-users': {
      tag: 'admin',
      summary: 'List and search accounts',
      description:
        'Newest first. A page holds `limit` accounts; pass its `next_cursor` as `cursor`, with the same filters, for ' +
        'the next page, until `next_cursor` is `null`. Accounts added or deleted between two pages never make a ' +
        'page repeat or skip one. `q`, `is_active` and `is_superuser` combine: an account must match each one given.',
      parameters: listParameters(),
      responses: {
        '200': response('One page of the accounts that match.', json('UserPage', EXAMPLE_USER_PAGE)),
        '422': invalidInput('A parameter out of its range, or a cursor this service did not make.', {
          limit: {
            summary: 'A limit out of range',
            loc: ['query', 'limit'],
            msg: `Input should be less than or equal to ${ADMIN_PAGE_MAX}`,
            type: 'max_value',
          },
          cursor: {
            summary: 'A cursor not made here',
            loc: ['query', 'cursor'],
            msg: 'Invalid cursor',
            type: 'value_error',
          },
          flag: {
            summary: 'A flag that is not true or false',
            loc: ['query', 'is_active'],
            msg: 'Input should be a valid boolean: true or false',
            type: 'picklist_type',
          },
        }),
        ...errors('500', '503'),
      },
    },
    'admin-get-user': {
      tag: 'admin',
      summary: 'One account',
      parameters: [userIdParameter(1)],
      responses: {
        '200': response('The account.', json('User', EXAMPLE_USER)),
        '404': ref('responses', 'UserNotFound'),
        '422': INVALID_ID_ONLY,
        ...errors('500', '503'),
      },
    },
    'admin-update-user': {
      tag: 'admin',
      summary: 'Deactivate, reactivate, promote or demote an account',
      description:
        'Deactivating ends every session of the account in the same statement: its refresh tokens and access ' +
        'tokens are refused at once, and its reset links are void. Reactivating restores none of that: the user logs ' +
        'in again. No change may leave the service without an active superuser (409), a superuser’s own demotion ' +
        'or deactivation included. Setting a flag to the value it has is accepted and changes nothing. Every change ' +
        'is in the audit trail with the superuser who made it.',
      parameters: [userIdParameter()],
      requestBody: requestBodyOf('AdminUserUpdate'),
      responses: {
        '200': response('The account as it is now.', json('User', { ...EXAMPLE_USER, is_active: false })),
        '404': ref('responses', 'UserNotFound'),
        '409': ref('responses', 'LastSuperuser'),
        '422': invalidInput(
          'The `id` is not a whole number, or the body has nothing to change or something else.',
          {
            id: INVALID_USER_ID,
            empty: {
              summary: 'Nothing to change',
              loc: ['body'],
              msg: 'Give is_active, is_superuser or both',
              type: 'value_error',
            },
            other: {
              summary: 'Another field',
              loc: ['body', 'email'],
              msg: 'Only is_active and is_superuser may be changed',
              type: 'strict_object_type',
            },
          },
        ),
        ...errors('413', '415', '500', '503'),
      },
    },
    'admin-delete-user': {
      tag: 'admin',
      summary: 'Delete an account',
      description:
        'The same erasure as a user’s own deletion of their account, in one statement: the account’s row goes with ' +
        'every session, token, reset link and pending mail of it (its tokens are refused at once), its audit events ' +
        'keep no email, the email is free to register again, and the address it had is sent a notice when mail is ' +
        'configured. It cannot be undone. The last active superuser cannot be deleted (409), a superuser’s own ' +
        'account included.',
      parameters: [userIdParameter()],
      responses: {
        '204': response('Deleted.'),
        '404': ref('responses', 'UserNotFound'),
        '409': ref('responses', 'LastSuperuser'),
        '422': INVALID_ID_ONLY,
        ...errors('500', '503'),
      },
    },
    'admin-end-sessions': {
      tag: 'admin',
      summary: 'End every session of an account',
      description:
        'Its refresh tokens and access tokens are refused at once, and its reset links are void; the account stays ' +
        'active, and its user logs in again. For a stolen session, or after an operator reset a password by other means.',
      parameters: [userIdParameter()],
      responses: {
        '204': response('Every session of the account ended (none is fine too).'),
        '404': ref('responses', 'UserNotFound'),
        '422': INVALID_ID_ONLY,
        ...errors('500', '503'),
      },
    },
    'admin-password-reset': {
      tag: 'admin',
      summary: 'Mail an account a password-reset link',
      description:
        'The mail `POST /auth/password-reset` sends: a link to the front-end’s reset page (`PASSWORD_RESET_URL`) ' +
        `that works for ${duration(settings.PASSWORD_RESET_TTL_SECONDS)}, and only while it is the account’s newest. ` +
        'Not counted against the reset request limits. The operator never sees the link: only the account’s mailbox does.',
      parameters: [userIdParameter()],
      responses: {
        '202': response(
          'Queued: the mail is sent just after the answer.',
          json('AdminPasswordResetAccepted', {
            detail: 'A link to reset the password has been sent to the account.',
          }),
        ),
        '404': ref('responses', 'UserNotFound'),
        '409': response(
          'The account is deactivated: reactivate it first (`PATCH` with `{"is_active": true}`).',
          json('HTTPError', { detail: 'The user is inactive' }),
        ),
        '422': INVALID_ID_ONLY,
        '503': MAIL_UNAVAILABLE,
        ...errors('500'),
      },
    },
    claims: {
      tag: 'users',
      summary: 'The verified claims of the access token (behind the gateway’s JWT authorizer)',
      description:
        'The sample route behind API Gateway’s JWT authorizer: the gateway verifies the access token (signature by a ' +
        'published key, `iss`, `aud`, `exp`, `nbf`, `iat`) and refuses it with its own 401 before the function runs. ' +
        'As API Gateway’s authorizer does, it takes the token in `Authorization` with or without the `Bearer` prefix, ' +
        'and it knows nothing of sessions: unlike `/users/me`, the token of a session that has ended (a logout, a ' +
        'session ended from the list or with all of them, a password change or reset) or of a user since deactivated ' +
        `passes until it expires, up to ${duration(settings.ACCESS_TOKEN_TTL_SECONDS)} after it was issued. A service ` +
        'behind such a route that does anything sensitive (changes an account, moves money, shows personal data) ' +
        'should not act on the token alone: it calls `GET /users/me` with it first, which refuses the token of an ' +
        'ended session or an inactive user; and the deployment keeps the access token lifetime ' +
        '(`ACCESS_TOKEN_TTL_SECONDS`) short, which bounds the window.',
      responses: {
        '200': response(
          'The claims the gateway verified.',
          json('AccessTokenClaims', {
            iss: 'https://abc123.execute-api.eu-west-1.amazonaws.com',
            aud: 'papa-api',
            sub: '1',
            sid: '9b2f6c1e-3d4a-4f5b-8c6d-7e8f9a0b1c2d',
            client_id: 'papa-app',
            auth_time: '1735732500',
            email_verified: 'true',
            iat: '1735732800',
            exp: '1735733700',
            jti: '0f0e0d0c-0b0a-4908-8706-050403020100',
          }),
        ),
      },
    },
    health: {
      tag: 'health',
      summary: 'Liveness and database reachability',
      responses: {
        '200': response('The service and its database answer.', json('HealthStatus', { status: 'ok' })),
        '503': response(
          'The database does not answer.',
          json('HealthUnavailable', { status: 'unavailable' }),
          ['Retry-After'],
        ),
        ...errors('500'),
      },
    },
    jwks: {
      tag: 'keys',
      summary: 'The public keys that verify access tokens (JWK Set, RFC 7517)',
      description:
        'The published keys: the one that signs, the next one (published hours before it signs) and, after a ' +
        'rotation, the previous one until its last token expires. Public members only. Served at the issuer’s URL, ' +
        'outside `/api/v1`.',
      responses: {
        '200': response(
          'The key set; caches may keep it five minutes.',
          json('JwkSet', { keys: [EXAMPLE_JWK] }),
        ) as OpenApiObject,
        ...errors('500', '503'),
      },
    },
    'openid-configuration': {
      tag: 'keys',
      summary: 'The issuer’s discovery document (OpenID Connect Discovery 1.0, RFC 8414)',
      description:
        'Names the issuer (the `iss` of every access token), `jwks_uri` and the token endpoint, so that a service, or ' +
        'API Gateway’s JWT authorizer, verifies tokens without a secret. No authorization endpoint and no ID token: ' +
        'the password and refresh-token grants only.',
      responses: {
        '200': response(
          'The discovery document; caches may keep it five minutes.',
          json('DiscoveryDocument', EXAMPLE_DISCOVERY),
        ),
        ...errors('500'),
      },
    },
  }
}

const strings = { type: 'array', items: { type: 'string' } }
const JWK_SET_SCHEMA: OpenApiObject = {
  type: 'object',
  description: 'A JWK Set (RFC 7517 §5): RSA public keys only.',
  required: ['keys'],
  properties: {
    keys: {
      type: 'array',
      items: {
        type: 'object',
        required: ['kty', 'n', 'e', 'kid', 'alg', 'use'],
        properties: {
          kty: { const: 'RSA' },
          n: { type: 'string', description: 'The modulus, base64url.' },
          e: { type: 'string', description: 'The exponent, base64url.' },
          kid: {
            type: 'string',
            description: 'The key’s RFC 7638 thumbprint; a token’s `kid` names its key.',
          },
          alg: { const: 'RS256' },
          use: { const: 'sig' },
        },
      },
    },
  },
}
const DISCOVERY_SCHEMA: OpenApiObject = {
  type: 'object',
  description: 'OpenID Connect Discovery 1.0 §3 / RFC 8414 §2 metadata.',
  required: [
    'issuer',
    'jwks_uri',
    'token_endpoint',
    'grant_types_supported',
    'response_types_supported',
    'subject_types_supported',
    'id_token_signing_alg_values_supported',
    'token_endpoint_auth_methods_supported',
  ],
  properties: {
    issuer: { type: 'string', format: 'uri', description: 'The `iss` of every access token.' },
    jwks_uri: { type: 'string', format: 'uri' },
    token_endpoint: { type: 'string', format: 'uri' },
    grant_types_supported: strings,
    response_types_supported: { ...strings, description: 'Empty: there is no authorization endpoint.' },
    subject_types_supported: strings,
    id_token_signing_alg_values_supported: { ...strings, description: 'No ID token is issued; RS256 signs.' },
    token_endpoint_auth_methods_supported: strings,
  },
}

/** What a route's callers add to its answers: the refusals of the HTTP layer, before the handler runs. */
const CALLER_RESPONSES: Record<Callers, Record<string, OpenApiObject>> = {
  anyone: {},
  session: { '401': ref('responses', 'NotAuthenticated') },
  superuser: {
    '401': ref('responses', 'AdminNotAuthenticated'),
    '403': ref('responses', 'InsufficientPrivileges'),
  },
  token: { '401': ref('responses', 'TokenRefusedByGateway') },
}

/** The shared responses, less the callers' refusals no route gives (the 403 until a route is for superusers). */
function referencedIn(
  paths: OpenApiDocument['paths'],
  responses: Record<string, OpenApiObject>,
): Record<string, OpenApiObject> {
  const text = JSON.stringify(paths)
  const callerOnly = new Set(
    Object.values(CALLER_RESPONSES).flatMap((added) =>
      Object.values(added).map((reference) => String(reference.$ref).split('/').pop()),
    ),
  )
  return Object.fromEntries(
    Object.entries(responses).filter(
      ([name]) => !callerOnly.has(name) || text.includes(`"#/components/responses/${name}"`),
    ),
  )
}

/** Responses in the order of their status codes, as a reader looks them up. */
const byStatus = (responses: Record<string, OpenApiObject>) =>
  Object.fromEntries(Object.entries(responses).sort(([a], [b]) => a.localeCompare(b)))

const STATUS_RESPONSES: Record<string, string> = {
  '401': 'NotAuthenticated',
  '413': 'PayloadTooLarge',
  '415': 'UnsupportedMediaType',
  '422': 'ValidationFailed',
  '429': 'TooManyAttempts',
  '500': 'InternalServerError',
  '503': 'ServiceUnavailable',
}

/**
 * The OpenAPI 3.1 document for the API routes of a route table, stating the limits and lifetimes `settings` configure;
 * throws if an API route's function has no documented operation.
 */
export function buildOpenApiDocument(
  routes: readonly RouteLike[],
  settings: OpenApiSettings,
): OpenApiDocument {
  const tokenRoute = routes.find((route) => route.function === TOKEN_FUNCTION)
  if (!tokenRoute) throw new Error('the route table has no token endpoint')
  const specs = operations(tokenRoute.path, settings)

  const paths: OpenApiDocument['paths'] = {}
  for (const route of routes.filter((route) => !route.docs)) {
    const spec = specs[route.function]
    if (!spec) throw new Error(`no OpenAPI operation for function ${route.function}`)
    paths[route.path] ??= {}
    ;(paths[route.path] as Record<string, OpenApiObject>)[route.method.toLowerCase()] = {
      tags: [spec.tag],
      operationId: route.function,
      summary: spec.summary,
      ...(spec.description ? { description: spec.description } : {}),
      // There is no document-wide requirement; an empty list states that an operation is public on purpose.
      security: route.callers === 'anyone' ? [] : [{ OAuth2PasswordBearer: [] }, { BearerAuth: [] }],
      ...(spec.parameters ? { parameters: spec.parameters } : {}),
      ...(spec.requestBody ? { requestBody: spec.requestBody } : {}),
      responses: byStatus({ ...spec.responses, ...CALLER_RESPONSES[route.callers] }),
    }
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'papa-auth',
      version: '1.0.0',
      summary: 'Accounts and tokens for the past-questions app.',
      description: infoDescription(tokenRoute.path, settings),
    },
    servers: [{ url: '/', description: 'The host this document was loaded from' }],
    tags: [
      { name: 'auth', description: 'Accounts, tokens and password resets' },
      { name: 'users', description: 'The authenticated user' },
      {
        name: 'admin',
        description:
          'Operators find accounts and act on them. Superusers only (403 for anyone else), with a login at most ' +
          `${duration(settings.ADMIN_MAX_AUTH_AGE_SECONDS)} old (\`ADMIN_MAX_AUTH_AGE_SECONDS\`; past it, 401 ` +
          '`insufficient_user_authentication`: log in again). Every action is in the audit trail with its actor.',
      },
      { name: 'health', description: 'Operations' },
      { name: 'keys', description: 'The issuer’s public keys and discovery document, at its URL' },
    ],
    paths,
    components: {
      schemas: {
        User: jsonSchema(UserSchema, 'ignore'),
        Token: jsonSchema(TokenPairSchema, 'ignore'),
        ...Object.fromEntries(
          Object.entries(REQUEST_BODIES).map(([name, spec]) => [name, requestBodySchema(spec)]),
        ),
        PasswordResetAccepted: jsonSchema(PasswordResetAcceptedSchema, 'ignore'),
        Preferences: jsonSchema(PreferencesSchema, 'ignore'),
        AccountDeletionAccepted: jsonSchema(AccountDeletionAcceptedSchema, 'ignore'),
        EmailVerificationAccepted: jsonSchema(EmailVerificationAcceptedSchema, 'ignore'),
        EmailChangeAccepted: jsonSchema(EmailChangeAcceptedSchema, 'ignore'),
        UserPage: userPageSchema(),
        AdminPasswordResetAccepted: jsonSchema(AdminPasswordResetAcceptedSchema, 'ignore'),
        Session: jsonSchema(SessionSchema, 'ignore'),
        AccountExport: accountExportSchema(),
        ExportedSession: jsonSchema(ExportedSessionSchema, 'ignore'),
        ExportedSecurityEvent: jsonSchema(ExportedSecurityEventSchema, 'ignore'),
        SessionList: { type: 'array', items: ref('schemas', 'Session') },
        HTTPError: jsonSchema(HttpErrorSchema, 'ignore'),
        ValidationError: jsonSchema(ValidationIssueSchema, 'ignore'),
        HTTPValidationError: {
          ...jsonSchema(HttpValidationErrorSchema, 'ignore'),
          properties: { detail: { type: 'array', items: ref('schemas', 'ValidationError') } },
        },
        OAuthError: jsonSchema(OAuthErrorSchema, 'ignore'),
        AccessTokenClaims: jsonSchema(AccessTokenClaimsSchema, 'ignore'),
        GatewayUnauthorized: jsonSchema(GatewayUnauthorizedSchema, 'ignore'),
        JwkSet: JWK_SET_SCHEMA,
        DiscoveryDocument: DISCOVERY_SCHEMA,
        HealthStatus: jsonSchema(HealthSchema, 'ignore'),
        HealthUnavailable: jsonSchema(HealthUnavailableSchema, 'ignore'),
      },
      responses: referencedIn(paths, componentResponses(settings)),
      headers: COMPONENT_HEADERS,
      securitySchemes: {
        OAuth2PasswordBearer: {
          type: 'oauth2',
          description: 'Swagger UI: Authorize, then your email as username and your password.',
          flows: { password: { tokenUrl: tokenRoute.path, refreshUrl: tokenRoute.path, scopes: {} } },
        },
        BearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
      },
    },
  }
}

/** `AccountExport`, its user, sessions and events by reference. */
function accountExportSchema(): OpenApiObject {
  const schema = jsonSchema(AccountExportSchema, 'ignore')
  const properties = schema.properties as Record<string, OpenApiObject>
  properties.user = ref('schemas', 'User')
  properties.sessions = { ...properties.sessions, items: ref('schemas', 'ExportedSession') }
  properties.security_events = {
    ...properties.security_events,
    items: ref('schemas', 'ExportedSecurityEvent'),
  }
  return schema
}

/** `UserPage`, its items the `User` schema by reference. */
function userPageSchema(): OpenApiObject {
  const schema = jsonSchema(UserPageSchema, 'ignore')
  const properties = schema.properties as Record<string, OpenApiObject>
  properties.items = { ...properties.items, items: ref('schemas', 'User') }
  return schema
}

/** The refresh token's single use, and its reuse interval as configured. */
const reuseRule = (settings: OpenApiSettings) =>
  settings.REFRESH_TOKEN_REUSE_INTERVAL_SECONDS > 0
    ? 'The token is single use, with a reuse interval: presented again within ' +
      `${duration(settings.REFRESH_TOKEN_REUSE_INTERVAL_SECONDS)} of its first use while its session is live (two tabs ` +
      'refreshing at once, a retry after a lost answer), it answers a new pair of the same session; after that, ' +
      'presenting it ends its whole session. A logout ends every token of the session at once, whatever the interval.'
    : 'The token is single use: presenting a retired one again ends its whole session.'

const infoDescription = (
  tokenPath: string,
  settings: OpenApiSettings,
) => `**Authorizing.** Get a token pair from the token endpoint \`POST ${tokenPath}\`
(an OAuth 2.0 form: what Swagger UI's *Authorize* button uses) or from login (JSON), then send
\`Authorization: Bearer <access_token>\`. Access tokens live \`expires_in\` seconds
(${duration(settings.ACCESS_TOKEN_TTL_SECONDS)}); renew them with the refresh token, which is single use and lives
${duration(settings.REFRESH_TOKEN_TTL_SECONDS)}.

**Trying it out.** Every request body is filled in with valid input for one example account: *Execute*
\`POST /auth/register\` as it stands, then *Authorize* as \`${EXAMPLE_ACCOUNT.email}\` with the password
\`${EXAMPLE_ACCOUNT.password}\`, and each operation runs as filled in. A confirm needs the token or code of a mail
(\`npm start\`'s *Mail:* page locally), and answers its documented 400 until you paste it in; an admin route acts on
the account whose \`id\` you type.

**Errors.** Bodies are JSON: \`{"detail": "…"}\`, or \`{"detail": [{"loc", "msg", "type"}, …]}\` for invalid input
(422), or \`{"error", "error_description"}\` from the token endpoint. Every path answers 404 (\`NotFound\`) when it is
not a route, and 405 (\`MethodNotAllowed\`, with \`Allow\`) when it is one asked with another method. Responses carry
\`X-Content-Type-Options: nosniff\`.`
