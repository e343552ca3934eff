import { execFile } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Validator } from '@seriousme/openapi-schema-validator'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormatsPlugin from 'ajv-formats'
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda'
import { sql } from 'drizzle-orm'
import * as v from 'valibot'
import { afterAll, afterEach, beforeAll, describe, expect, expectTypeOf, inject, it, vi } from 'vitest'
import { runMigrations } from '#db/migrate'
import { ACCOUNT_DELETION_ACCEPTED } from '#functions/account-deletion'
import { handler as accountDeletionConfirm } from '#functions/account-deletion-confirm'
import { handler as adminDeleteUser } from '#functions/admin-delete-user'
import { handler as adminEndSessions } from '#functions/admin-end-sessions'
import { handler as adminGetUser } from '#functions/admin-get-user'
import { handler as adminListUsers } from '#functions/admin-list-users'
import { ADMIN_RESET_ACCEPTED, handler as adminPasswordReset } from '#functions/admin-password-reset'
import { handler as adminUpdateUser } from '#functions/admin-update-user'
import { handler as changePassword } from '#functions/change-password'
import { handler as claims } from '#functions/claims'
import { handler as deleteAccount } from '#functions/delete-account'
import { EMAIL_CHANGE_ACCEPTED, handler as emailChange } from '#functions/email-change'
import { handler as emailChangeConfirm } from '#functions/email-change-confirm'
import { EMAIL_VERIFICATION_ACCEPTED, handler as emailVerification } from '#functions/email-verification'
import { handler as emailVerificationConfirm } from '#functions/email-verification-confirm'
import { handler as endSessions } from '#functions/end-all-sessions'
import { handler as endSession } from '#functions/end-one-session'
import { handler as exportAccount } from '#functions/export-account'
import { handler as getPreferences } from '#functions/get-preferences'
import { handler as health } from '#functions/health'
import { handler as jwks } from '#functions/jwks'
import { handler as sessions } from '#functions/list-sessions'
import { handler as login } from '#functions/login'
import { handler as logout } from '#functions/logout'
import { handler as me } from '#functions/me'
import { handler as notFound } from '#functions/not-found'
import { handler as openapi } from '#functions/openapi'
import { handler as openidConfiguration } from '#functions/openid-configuration'
import { PASSWORD_RESET_ACCEPTED, handler as passwordReset } from '#functions/password-reset'
import { handler as passwordResetConfirm } from '#functions/password-reset-confirm'
import { handler as putPreferences } from '#functions/put-preferences'
import { handler as refresh } from '#functions/refresh'
import { handler as register } from '#functions/register'
import { API_BASE_PATH, routes } from '#functions/routes'
import { handler as token } from '#functions/token'
import { authorizeJwt } from '#infra/local/authorizer'
import { fromApiGatewayResult, lambdaContext, toApiGatewayEvent } from '#infra/local/event'
import { freePort } from '#infra/local/postgres'
import { startLocalSecretsManager } from '#infra/local/secrets-manager'
import { disposeAll } from '#shared/app/memo'
import { migrationLimits } from '#shared/app/operations'
import { type AccountExportService, EXPORT_LIMITS, WITHHELD_EVENT_TYPES } from '#shared/domain/account-export'
import {
  ADMIN_PAGE_MAX,
  AdminUserListQuerySchema,
  AdminUserPatchSchema,
  UserIdSchema,
} from '#shared/domain/admin-schemas'
import type { UserPage } from '#shared/domain/admin-service'
import type {
  AccountExportSchema,
  PublicUser,
  TokenPair,
  TokenPairSchema,
  UserSchema,
} from '#shared/domain/contract'
import { hashEmailCode } from '#shared/domain/email-code-service'
import { hashResetToken, newResetToken } from '#shared/domain/password-reset-service'
import { publishedKeys } from '#shared/domain/signing-keys'
import { DISCOVERY_PATH, JWKS_PATH } from '#shared/http/discovery'
import {
  type AdminPasswordResetAcceptedSchema,
  buildOpenApiDocument,
  type OpenApiDocument,
  type OpenApiObject,
  type PasswordResetAcceptedSchema,
  REQUEST_BODIES,
  type RequestBodyName,
  staleLoginChallenge,
  type UserPageSchema,
} from '#shared/http/openapi'
import { loadSettings } from '#shared/platform/config'
import { superuserOn, testDatabase } from '#test/helpers/database'
import { apiEvent, formEvent, jsonEvent, uniqueEmail, uniqueUsername } from '#test/helpers/events'
import { testSigningKeys } from '#test/helpers/keys'

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyResultV2>

// ajv-formats is CommonJS whose types declare only a default export; under NodeNext that is the module object.
const addFormats = addFormatsPlugin as unknown as typeof addFormatsPlugin.default

// The settings of the functions under test (test/helpers/environment.ts), as the handler reads them.
const config = loadSettings()
const document = buildOpenApiDocument(routes, config)
const REGISTER = '/api/v1/auth/register'
const LOGIN = '/api/v1/auth/login'
const TOKEN = '/api/v1/auth/token'
const REFRESH = '/api/v1/auth/refresh'
const LOGOUT = '/api/v1/auth/logout'
const ME = '/api/v1/users/me'
const HEALTH = '/api/v1/health'
const CLAIMS = `${API_BASE_PATH}/auth/claims`
const SESSIONS = '/api/v1/users/me/sessions'
const SESSION = `${SESSIONS}/{id}`
const EXPORT = '/api/v1/users/me/export'
const CHANGE_PASSWORD = '/api/v1/users/me/password'
const PASSWORD_RESET = '/api/v1/auth/password-reset'
const PASSWORD_RESET_CONFIRM = '/api/v1/auth/password-reset/confirm'
const EMAIL_VERIFICATION = '/api/v1/auth/email-verification'
const EMAIL_VERIFICATION_CONFIRM = '/api/v1/auth/email-verification/confirm'
const EMAIL_CHANGE = '/api/v1/users/me/email'
const EMAIL_CHANGE_CONFIRM = '/api/v1/users/me/email/confirm'
const PREFERENCES = '/api/v1/users/me/preferences'
const ACCOUNT_DELETION = '/api/v1/auth/account-deletion'
const ACCOUNT_DELETION_CONFIRM = '/api/v1/auth/account-deletion/confirm'
const PASSWORD = 'correct horse battery'

interface Reply {
  status: number
  headers: Record<string, string>
  raw: Buffer
  /** Answered by API Gateway itself (its JWT authorizer), not by a function: none of the service's own headers. */
  gateway?: true
}

async function call(handler: Handler, event: APIGatewayProxyEventV2): Promise<Reply> {
  const result = fromApiGatewayResult(await handler(event, lambdaContext('openapi-test')))
  return { status: result.statusCode, headers: result.headers, raw: result.body }
}

const json = (reply: Reply) => JSON.parse(reply.raw.toString('utf8')) as Record<string, unknown>
const tooLarge = 'x'.repeat(70 * 1024)

describe('the OpenAPI document', () => {
  it('is valid OpenAPI 3.1, by a validator that does reject a broken one', async () => {
    const validator = new Validator()
    const result = await validator.validate(structuredClone(document) as never)
    expect(result.errors).toBeUndefined()
    expect(result.valid).toBe(true)
    expect(validator.version).toBe('3.1')

    // A Response Object without its required description.
    const broken = structuredClone(document)
    const responses = (broken.paths[ME]?.get?.responses ?? {}) as Record<string, OpenApiObject>
    delete responses['200']?.description
    expect((await new Validator().validate(broken as never)).valid).toBe(false)
  })

  it('has exactly the operations of the route table, the documentation routes aside', () => {
    const documented = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
    )
    const apiRoutes = routes.filter((route) => !route.docs)
    expect(documented.sort()).toEqual(apiRoutes.map((route) => `${route.method} ${route.path}`).sort())
    // Only Swagger UI and this document are left out: an API route marked as documentation would vanish here.
    expect(new Set(routes.filter((route) => route.docs).map((route) => route.function))).toEqual(
      new Set(['docs', 'openapi']),
    )
  })

  it('describes the OAuth2 password flow against the token route, and bearer auth on /users/me', () => {
    expect(document.components.securitySchemes.OAuth2PasswordBearer).toMatchObject({
      type: 'oauth2',
      flows: { password: { tokenUrl: TOKEN, scopes: {} } },
    })
    expect(document.components.securitySchemes.BearerAuth).toEqual({
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
    })
    expect(document.paths[ME]?.get?.security).toEqual([{ OAuth2PasswordBearer: [] }, { BearerAuth: [] }])
  })

  it('is served at GET /api/v1/openapi.json as JSON, the same object npm run openapi writes', async () => {
    const reply = await call(openapi, apiEvent('GET', '/api/v1/openapi.json'))
    expect(reply.status).toBe(200)
    expect(reply.headers).toMatchObject({
      'content-type': 'application/json',
      'x-content-type-options': 'nosniff',
    })
    expect(json(reply)).toEqual(document)

    const directory = await mkdtemp(join(tmpdir(), 'openapi-'))
    try {
      const file = join(directory, 'openapi.json')
      await promisify(execFile)(process.execPath, ['scripts/openapi.ts', file], {
        env: { ...process.env, INIT_CWD: '' },
      })
      expect(JSON.parse(await readFile(file, 'utf8'))).toEqual(document)
    } finally {
      await rm(directory, { recursive: true, force: true })
    }
  })

  it('says what the gateway’s authorizer lets through on /auth/claims, and what a service behind it should do', () => {
    const text = String(document.paths[CLAIMS]?.get?.description).replace(/\s+/g, ' ')
    // As API Gateway does (and test/integration/authorizer.test.ts shows of its emulation): a bare token passes ...
    expect(text).toContain('with or without the `Bearer` prefix')
    // ... and so does the token of an ended session, until it expires.
    expect(text).toMatch(
      /the token of a session that has ended .* passes until it expires, up to \d+ \w+ after it was issued/,
    )
    expect(text).toContain(
      'it calls `GET /users/me` with it first, which refuses the token of an ended session',
    )
    expect(text).toContain('(`ACCESS_TOKEN_TTL_SECONDS`) short')
  })

  it('states the limits and lifetimes configured for the function that serves it', async () => {
    vi.resetModules()
    const settings = {
      LOGIN_MAX_FAILURES: '4',
      LOGIN_WINDOW_SECONDS: '120',
      REGISTER_RATE_LIMIT: '3',
      REGISTER_RATE_WINDOW_SECONDS: '86400',
      ACCESS_TOKEN_TTL_SECONDS: '300',
      REFRESH_TOKEN_TTL_SECONDS: '5400',
      REFRESH_TOKEN_REUSE_INTERVAL_SECONDS: '30',
      BCRYPT_COST: '13',
      SESSION_MAX_AGE_SECONDS: '172800',
      MAX_SESSIONS_PER_USER: '7',
      PASSWORD_RESET_TTL_SECONDS: '600',
      PASSWORD_RESET_EMAIL_LIMIT: '2',
      PASSWORD_RESET_IP_LIMIT: '40',
      PASSWORD_RESET_WINDOW_SECONDS: '7200',
      ADMIN_MAX_AUTH_AGE_SECONDS: '2700',
    }
    for (const [key, value] of Object.entries(settings)) vi.stubEnv(key, value)
    const { handler } = await import('#functions/openapi')
    const served = json(
      await call(handler, apiEvent('GET', '/api/v1/openapi.json')),
    ) as unknown as OpenApiDocument

    const words = (text: unknown) => String(text).replace(/\s+/g, ' ')
    const { TooManyAttempts, RegistrationLimited, PasswordResetLimited } = served.components.responses
    expect(TooManyAttempts?.description).toMatch(
      /^4 consecutive failed logins for this email within 2 minutes:/,
    )
    expect(RegistrationLimited?.description).toMatch(
      /^More than 3 registration attempts from this source address within 1 day;/,
    )
    expect(words(served.info.description)).toContain(
      'Access tokens live `expires_in` seconds (5 minutes); renew them with the refresh token, which is single use ' +
        'and lives 90 minutes.',
    )
    expect(served.paths[REGISTER]?.post?.description).toContain('bcrypt hash of cost 13.')
    expect(words(served.paths[REFRESH]?.post?.description)).toContain(
      'presented again within 30 seconds of its first use while its session is live',
    )
    expect(PasswordResetLimited?.description).toMatch(
      /^More than 2 reset requests for this email \(any email, with an account or not\) or 40 reset requests from this source address within 2 hours;/,
    )
    expect(words(served.paths[PASSWORD_RESET]?.post?.description)).toContain(
      'The link works for 10 minutes from the request, and only the newest one does. At most 2 requests per ' +
        'email and 40 requests per source address within 2 hours',
    )
    expect(words(served.paths[SESSIONS]?.get?.description)).toContain('(at most 2 days after the login)')
    expect(words(served.paths[CLAIMS]?.get?.description)).toContain('up to 5 minutes after it was issued.')
    expect(words(served.paths[SESSIONS]?.get?.description)).toContain(
      'A user holds at most 7 live sessions: a login past that ends the oldest.',
    )
    expect(served.paths[LOGIN]?.post).toMatchObject({
      responses: { '200': { content: { 'application/json': { example: { expires_in: 300 } } } } },
    })
    expect(words(served.components.responses.AdminNotAuthenticated?.description)).toContain(
      'more than 45 minutes ago (`ADMIN_MAX_AUTH_AGE_SECONDS`)',
    )
    expect(served.components.responses.AdminNotAuthenticated?.description).toContain('max_age="2700"')
    expect(words(served.tags.find((tag) => tag.name === 'admin')?.description)).toContain(
      'with a login at most 45 minutes old',
    )
    // Nothing is left of the defaults the text used to state as fixed.
    expect(words(JSON.stringify(served))).not.toMatch(
      /\b10 consecutive|15 minutes|7 days|20 registration|\b900\b|30 minutes|30 days|\b5 requests|\b100 requests|\b1 hour\b|max_age="3600"/,
    )
  })

  it('answers a 500 without details when a setting is invalid, as every function does', async () => {
    vi.resetModules()
    vi.stubEnv('LOGIN_MAX_FAILURES', '0')
    const { handler } = await import('#functions/openapi')
    const reply = await call(handler, apiEvent('GET', '/api/v1/openapi.json'))
    expect(reply.status).toBe(500)
    expect(json(reply)).toEqual({ detail: 'Internal Server Error' })
  })

  it('documents each admin operation for superusers, with its parameters and every answer', () => {
    const answers: Record<string, string[]> = {
      'admin-list-users': ['200', '401', '403', '422', '500', '503'],
      'admin-get-user': ['200', '401', '403', '404', '422', '500', '503'],
      'admin-update-user': ['200', '401', '403', '404', '409', '413', '415', '422', '500', '503'],
      'admin-delete-user': ['204', '401', '403', '404', '409', '422', '500', '503'],
      'admin-end-sessions': ['204', '401', '403', '404', '422', '500', '503'],
      'admin-password-reset': ['202', '401', '403', '404', '409', '422', '500', '503'],
    }
    const adminRoutes = routes.filter((route) => route.callers === 'superuser')
    expect(adminRoutes.map((route) => route.function).sort()).toEqual(Object.keys(answers).sort())
    for (const route of adminRoutes) {
      const name = `${route.method} ${route.path}`
      const operation = document.paths[route.path]?.[route.method.toLowerCase()] as OpenApiObject
      expect(operation, name).toMatchObject({
        tags: ['admin'],
        operationId: route.function,
        summary: expect.any(String),
        security: [{ OAuth2PasswordBearer: [] }, { BearerAuth: [] }],
      })
      const responses = operation.responses as Record<string, OpenApiObject>
      expect(Object.keys(responses), name).toEqual(answers[route.function])
      expect(responses['401'], name).toEqual({ $ref: '#/components/responses/AdminNotAuthenticated' })
      expect(responses['403'], name).toEqual({ $ref: '#/components/responses/InsufficientPrivileges' })
      const parameters = (operation.parameters ?? []) as OpenApiObject[]
      for (const parameter of parameters)
        expect(parameter.description, `${name} ${parameter.name}`).toEqual(expect.any(String))
      if (route.path.endsWith('/admin/users')) {
        expect(parameters.map((parameter) => [parameter.name, parameter.in, parameter.required])).toEqual([
          ['limit', 'query', false],
          ['cursor', 'query', false],
          ['q', 'query', false],
          ['is_active', 'query', false],
          ['is_superuser', 'query', false],
        ])
        expect(responses['200']).toMatchObject({
          content: { 'application/json': { schema: { $ref: '#/components/schemas/UserPage' } } },
        })
      } else {
        expect(parameters).toEqual([
          expect.objectContaining({
            name: 'id',
            in: 'path',
            required: true,
            schema: { type: 'integer', minimum: 1, maximum: 2_147_483_647 },
          }),
        ])
        expect(responses['404'], name).toEqual({ $ref: '#/components/responses/UserNotFound' })
      }
    }
    expect(document.paths[ADMIN_USER]?.patch?.requestBody).toMatchObject({
      required: true,
      content: {
        'application/json': {
          schema: { $ref: '#/components/schemas/AdminUserUpdate' },
          examples: { deactivate: { value: { is_active: false } } },
        },
      },
    })
    expect(document.tags.map((tag) => tag.name)).toContain('admin')
  })

  it('states the recent-login rule of the admin routes: their 401, its challenge and max_age as configured', () => {
    const words = (text: unknown) => String(text).replace(/\s+/g, ' ')
    const unauthenticated = document.components.responses.AdminNotAuthenticated as OpenApiObject
    expect(words(unauthenticated.description)).toContain(
      'a superuser’s token from a login (`auth_time`: the session’s login, which a refresh does not renew) more ' +
        'than 1 hour ago (`ADMIN_MAX_AUTH_AGE_SECONDS`): `"A more recent login is required"`, with ' +
        '`WWW-Authenticate: Bearer error="insufficient_user_authentication", error_description="A more recent ' +
        'login is required", max_age="3600"` (RFC 9470)',
    )
    expect(unauthenticated).toMatchObject({
      headers: { 'WWW-Authenticate': { $ref: '#/components/headers/WWW-Authenticate-RecentLogin' } },
      content: {
        'application/json': {
          examples: {
            notAuthenticated: { value: { detail: 'Not authenticated' } },
            invalidToken: { value: { detail: 'Could not validate credentials' } },
            staleLogin: { value: { detail: 'A more recent login is required' } },
          },
        },
      },
    })
    expect(words(document.tags.find((tag) => tag.name === 'admin')?.description)).toContain(
      'with a login at most 1 hour old (`ADMIN_MAX_AUTH_AGE_SECONDS`',
    )
    // The routes of a session keep their own 401, which knows nothing of logins' age.
    expect(document.paths[ME]?.get?.responses).toMatchObject({
      '401': { $ref: '#/components/responses/NotAuthenticated' },
    })
  })

  it('documents the ranges the admin functions check: the id, the page size', () => {
    const accepts = (schema: unknown, value: number) => ajv.compile(schema as object)(value)
    const idSchema = (operationOf(document, ADMIN_USER, 'get').parameters as OpenApiObject[])[0]?.schema
    for (const id of [1, 7, 2_147_483_647, 0, -1, 2_147_483_648, 1.5])
      expect(accepts(idSchema, id), String(id)).toBe(v.safeParse(UserIdSchema, String(id)).success)
    const limitSchema = (operationOf(document, ADMIN_USERS, 'get').parameters as OpenApiObject[])[0]?.schema
    for (const limit of [1, 50, ADMIN_PAGE_MAX, 0, ADMIN_PAGE_MAX + 1])
      expect(accepts(limitSchema, limit), String(limit)).toBe(
        v.safeParse(AdminUserListQuerySchema, { limit: String(limit) }).success,
      )
    // Each example body of the update is one the function takes.
    const examples = (
      operationOf(document, ADMIN_USER, 'patch').requestBody as {
        content: Record<string, { examples: Record<string, { value: unknown }> }>
      }
    ).content['application/json']?.examples
    expect(Object.keys(examples ?? {}).length).toBeGreaterThan(0)
    for (const [name, { value }] of Object.entries(examples ?? {}))
      expect(v.safeParse(AdminUserPatchSchema, value).success, name).toBe(true)
  })

  it('gives only examples that their schemas accept, by a check that does refuse a wrong one', () => {
    expect(invalidExamples(document)).toEqual([])
    expect(countExamples(document)).toBeGreaterThan(40)
    const broken = structuredClone(document)
    const { responses } = operationOf(broken, ADMIN_USERS, 'get') as {
      responses: Record<string, { content: Record<string, OpenApiObject> }>
    }
    Object.assign(responses['200']?.content['application/json'] ?? {}, {
      example: { items: [], next_cursor: 5 },
    })
    expect(invalidExamples(broken)).toEqual([`GET ${ADMIN_USERS} 200 application/json example`])
  })

  it('documents the account export as a download: its file name, its shape by reference, its bounds as declared', () => {
    const operation = operationOf(document, EXPORT, 'get')
    expect(operation).toMatchObject({
      operationId: 'export-account',
      security: [{ OAuth2PasswordBearer: [] }, { BearerAuth: [] }],
      responses: {
        '200': {
          headers: {
            'Content-Disposition': { $ref: '#/components/headers/Content-Disposition' },
            'Cache-Control': { $ref: '#/components/headers/Cache-Control' },
          },
          content: { 'application/json': { schema: { $ref: '#/components/schemas/AccountExport' } } },
        },
        '401': { $ref: '#/components/responses/NotAuthenticated' },
      },
    })
    expect(document.components.schemas.AccountExport?.properties).toMatchObject({
      user: { $ref: '#/components/schemas/User' },
      sessions: { items: { $ref: '#/components/schemas/ExportedSession' } },
      security_events: { items: { $ref: '#/components/schemas/ExportedSecurityEvent' } },
    })
    const text = String(operation.description).replace(/\s+/g, ' ')
    expect(text).toContain(
      `At most ${EXPORT_LIMITS.sessions.toLocaleString('en-US')} sessions and ` +
        `${EXPORT_LIMITS.securityEvents.toLocaleString('en-US')} events`,
    )
    expect(text).toContain(`(kept ${config.AUDIT_RETENTION_DAYS} days)`)
    for (const type of WITHHELD_EVENT_TYPES) expect(text).toContain(`\`${type}\``)
  })

  it('describes response schemas whose types are the ones the service returns', () => {
    expectTypeOf<v.InferOutput<typeof AccountExportSchema>>().toEqualTypeOf<
      Awaited<ReturnType<AccountExportService['exportAccount']>>['body']
    >()
    expectTypeOf<v.InferOutput<typeof UserPageSchema>>().toEqualTypeOf<UserPage>()
    expectTypeOf<Readonly<v.InferOutput<typeof AdminPasswordResetAcceptedSchema>>>().toEqualTypeOf<
      typeof ADMIN_RESET_ACCEPTED
    >()
    expect(document.components.schemas.AdminPasswordResetAccepted).toMatchObject({
      properties: { detail: { const: ADMIN_RESET_ACCEPTED.detail } },
    })
    expectTypeOf<v.InferOutput<typeof UserSchema>>().toEqualTypeOf<PublicUser>()
    expectTypeOf<v.InferOutput<typeof TokenPairSchema>>().toEqualTypeOf<TokenPair>()
    // The reset request's one body is the handler's constant, word for word.
    expectTypeOf<Readonly<v.InferOutput<typeof PasswordResetAcceptedSchema>>>().toEqualTypeOf<
      typeof PASSWORD_RESET_ACCEPTED
    >()
    expect(document.components.schemas.PasswordResetAccepted).toMatchObject({
      properties: { detail: { const: PASSWORD_RESET_ACCEPTED.detail } },
    })
  })
})

/*
 * Each documented response, produced by the real handler and checked against the document: status, media type,
 * body against the documented schema (closed, so an undocumented field fails too), and each documented header.
 * A response that the document lists but no scenario produces fails the coverage test at the end.
 */

const ajv = new Ajv2020({ strict: true, allErrors: true })
addFormats(ajv)

/** A copy of a schema in which every object admits only its documented properties, with refs made absolute. */
function closed(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closed)
  if (schema === null || typeof schema !== 'object') return schema
  const copy: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(schema)) {
    copy[key] =
      key === '$ref'
        ? String(value).replace('#/components/schemas/', 'https://papa-auth.test/openapi.json#/$defs/')
        : closed(value)
  }
  if (copy.type === 'object' && copy.properties && copy.additionalProperties === undefined) {
    copy.additionalProperties = false
  }
  return copy
}
ajv.addSchema({
  $id: 'https://papa-auth.test/openapi.json',
  $defs: closed(document.components.schemas) as object,
})

const resolve = (object: OpenApiObject): OpenApiObject => {
  const reference = object.$ref
  if (typeof reference !== 'string') return object
  const [, kind, name] = /^#\/components\/(\w+)\/(.+)$/.exec(reference) ?? []
  const target = (document.components as Record<string, Record<string, OpenApiObject>>)[kind ?? '']?.[
    name ?? ''
  ]
  if (!target) throw new Error(`unresolved ${reference}`)
  return target
}

function documentedResponse(key: string): OpenApiObject {
  const [method = '', path = '', status = ''] = key.split(' ')
  const operation = document.paths[path]?.[method.toLowerCase()]
  const response = (operation?.responses as Record<string, OpenApiObject> | undefined)?.[status]
  if (!response) throw new Error(`${key} is not documented`)
  return resolve(response)
}

/** A document's operation, which must be there. */
function operationOf(doc: OpenApiDocument, path: string, method: string): OpenApiObject {
  const operation = doc.paths[path]?.[method]
  if (!operation) throw new Error(`${method.toUpperCase()} ${path} is not documented`)
  return operation
}

/** Each example of a document (parameters', request bodies', responses'), where it is, and the schema it illustrates. */
function* examplesOf(doc: OpenApiDocument): Generator<{ where: string; schema: unknown; value: unknown }> {
  const responses = doc.components.responses
  const resolved = (object: OpenApiObject) =>
    typeof object.$ref === 'string' ? (responses[object.$ref.split('/').pop() ?? ''] ?? {}) : object
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      const name = `${method.toUpperCase()} ${path}`
      for (const parameter of (operation.parameters ?? []) as OpenApiObject[]) {
        if (parameter.example !== undefined)
          yield { where: `${name} ${parameter.name}`, schema: parameter.schema, value: parameter.example }
      }
      const bodies = [
        ...(operation.requestBody ? [['request', operation.requestBody] as const] : []),
        ...Object.entries(operation.responses as Record<string, OpenApiObject>),
      ]
      for (const [status, body] of bodies) {
        const content = (resolved(body as OpenApiObject).content ?? {}) as Record<string, OpenApiObject>
        for (const [mediaType, media] of Object.entries(content)) {
          const at = `${name} ${status} ${mediaType}`
          if (media.example !== undefined)
            yield { where: `${at} example`, schema: media.schema, value: media.example }
          for (const [key, example] of Object.entries(
            (media.examples ?? {}) as Record<string, { value: unknown }>,
          ))
            yield { where: `${at} examples.${key}`, schema: media.schema, value: example.value }
        }
      }
    }
  }
}

/** The examples of a document that their (closed) schemas refuse: what Swagger UI would show or send wrongly. */
const invalidExamples = (doc: OpenApiDocument) =>
  [...examplesOf(doc)]
    .filter(({ schema, value }) => !ajv.compile(closed(schema) as object)(value))
    .map(({ where }) => where)
const countExamples = (doc: OpenApiDocument) => [...examplesOf(doc)].length

function expectMatchesDocumentation(documented: OpenApiObject, reply: Reply) {
  if (!reply.gateway) expect(reply.headers['x-content-type-options']).toBe('nosniff')
  const content = documented.content as Record<string, { schema: unknown }> | undefined
  if (!content) {
    expect(reply.raw.length).toBe(0)
    // Nothing to describe: a Content-Type on an empty answer would claim a JSON body that is not there.
    expect(reply.headers['content-type']).toBeUndefined()
  } else {
    const [mediaType, media] = Object.entries(content)[0] ?? []
    expect(reply.headers['content-type']?.split(';')[0]).toBe(mediaType)
    const isJson = mediaType === 'application/json'
    const isText = mediaType?.startsWith('text/')
    const body = isJson ? json(reply) : isText ? reply.raw.toString('utf8') : reply.raw.toString('base64')
    const validate = ajv.compile(closed(media?.schema) as object)
    expect(validate(body), JSON.stringify(validate.errors)).toBe(true)
  }
  for (const [name, header] of Object.entries((documented.headers ?? {}) as Record<string, OpenApiObject>)) {
    const value = reply.headers[name.toLowerCase()]
    // A header documented as sent with some of a status's answers only says so (`required: false`, outright); it is
    // checked where it is sent, and each scenario of such a status says whether it is.
    if (value === undefined && resolve(header).required === false) continue
    expect(value, `header ${name}`).toBeDefined()
    const schema = resolve(header).schema as { type?: string }
    const validate = ajv.compile(schema)
    expect(validate(schema.type === 'integer' ? Number(value) : value), `header ${name}: ${value}`).toBe(true)
  }
}

interface Fixtures {
  email: string
  username: string
  /** The plain user's id: the account the admin scenarios look at. */
  userId: number
  accessToken: string
  refreshTokens: string[]
}
const fixtures: Fixtures = { email: '', username: '', userId: 0, accessToken: '', refreshTokens: [] }
let lockedOutEmail = ''

/** A superuser of a fresh login, and another whose login is two hours old (its token refreshed since). */
const admin = { id: 0, token: '', staleToken: '' }
/** Arranges rows no endpoint makes: a superuser, a login aged. */
const database = testDatabase()
afterAll(() => database.close())

beforeAll(async () => {
  fixtures.email = uniqueEmail('openapi')
  fixtures.username = uniqueUsername('openapi')
  const created = await call(
    register,
    jsonEvent(REGISTER, { email: fixtures.email, password: PASSWORD, username: fixtures.username }),
  )
  expect(created.status).toBe(201)
  fixtures.userId = Number(json(created).id)
  for (let pair = 0; pair < 2; pair++) {
    const reply = json(await call(login, jsonEvent(LOGIN, { email: fixtures.email, password: PASSWORD })))
    // The first session's: the second is logged out by a scenario, which ends its access tokens too.
    if (pair === 0) fixtures.accessToken = String(reply.access_token)
    fixtures.refreshTokens.push(String(reply.refresh_token))
  }
  // LOGIN_MAX_FAILURES consecutive failures lock an email out of login and token alike, unknown emails included.
  lockedOutEmail = uniqueEmail('locked')
  for (let attempt = 0; attempt < config.LOGIN_MAX_FAILURES; attempt++) {
    expect(
      (await call(login, jsonEvent(LOGIN, { email: lockedOutEmail, password: 'wrong password' }))).status,
    ).toBe(401)
  }
  // The registration limit (REGISTER_RATE_LIMIT per source IP and window) is spent from one address.
  for (let attempt = 0; attempt < config.REGISTER_RATE_LIMIT; attempt++) {
    const event = jsonEvent(
      REGISTER,
      { email: uniqueEmail('limited'), password: PASSWORD },
      { sourceIp: LIMITED_SOURCE_IP },
    )
    expect((await call(register, event)).status).toBe(201)
  }

  const superuser = await promoted(await freshSession())
  admin.id = superuser.id
  admin.token = superuser.accessToken
  const aged = await promoted(await freshSession())
  await database.db.execute(
    sql`update sessions set created_at = now() - interval '2 hours' where user_id = ${aged.id}`,
  )
  const refreshed = await call(refresh, jsonEvent(REFRESH, { refresh_token: aged.refreshToken }))
  expect(refreshed.status).toBe(200)
  admin.staleToken = String(json(refreshed).access_token)
}, 120_000)

/** The account of a session made a superuser, as an operator's SQL makes the first one. */
async function promoted<T extends { id: number }>(account: T): Promise<T> {
  await database.db.execute(sql`update users set is_superuser = true where id = ${account.id}`)
  return account
}

const textBody = (path: string, body: string) =>
  apiEvent('POST', path, body, { headers: { 'content-type': 'text/plain' } })
const bearer = (value: string) => apiEvent('GET', ME, undefined, { headers: { authorization: value } })

/** Handlers of a fresh container (a cold start) with the settings given, as a Lambda that starts broken. */
const freshHandlers = {
  register: () => import('#functions/register'),
  login: () => import('#functions/login'),
  token: () => import('#functions/token'),
  refresh: () => import('#functions/refresh'),
  logout: () => import('#functions/logout'),
  me: () => import('#functions/me'),
  health: () => import('#functions/health'),
  jwks: () => import('#functions/jwks'),
  'openid-configuration': () => import('#functions/openid-configuration'),
  'list-sessions': () => import('#functions/list-sessions'),
  'end-one-session': () => import('#functions/end-one-session'),
  'end-all-sessions': () => import('#functions/end-all-sessions'),
  'export-account': () => import('#functions/export-account'),
  'change-password': () => import('#functions/change-password'),
  'password-reset': () => import('#functions/password-reset'),
  'password-reset-confirm': () => import('#functions/password-reset-confirm'),
  'email-verification': () => import('#functions/email-verification'),
  'email-verification-confirm': () => import('#functions/email-verification-confirm'),
  'email-change': () => import('#functions/email-change'),
  'email-change-confirm': () => import('#functions/email-change-confirm'),
  'admin-list-users': () => import('#functions/admin-list-users'),
  'admin-get-user': () => import('#functions/admin-get-user'),
  'admin-update-user': () => import('#functions/admin-update-user'),
  'admin-end-sessions': () => import('#functions/admin-end-sessions'),
  'admin-password-reset': () => import('#functions/admin-password-reset'),
  'admin-delete-user': () => import('#functions/admin-delete-user'),
  'delete-account': () => import('#functions/delete-account'),
  'get-preferences': () => import('#functions/get-preferences'),
  'put-preferences': () => import('#functions/put-preferences'),
  'account-deletion': () => import('#functions/account-deletion'),
  'account-deletion-confirm': () => import('#functions/account-deletion-confirm'),
}

/** `calls` requests (a fresh event each) to one cold-started handler; the last one's answer. */
async function coldCall(
  name: keyof typeof freshHandlers,
  env: Record<string, string | undefined>,
  event: () => APIGatewayProxyEventV2,
  calls = 1,
) {
  vi.resetModules()
  for (const [key, value] of Object.entries(env)) vi.stubEnv(key, value)
  const { handler } = await freshHandlers[name]()
  try {
    for (let made = 1; made < calls; made++) await call(handler, event())
    return await call(handler, event())
  } finally {
    await (await import('#shared/app/memo')).disposeAll()
  }
}
afterEach(() => vi.unstubAllEnvs())

/** A database that refuses: same WebSocket proxy, which forwards to nothing but the test database. */
const databaseDown = async () => {
  const url = new URL(inject('databaseUrl'))
  url.port = String(await freePort())
  return { DATABASE_URL: url.toString(), DATABASE_CONNECT_TIMEOUT_MS: '1000' }
}
// Inline signing keys that are no key set: the container refuses to start, which only a generic 500 may reveal.
const brokenConfig = { JWT_SIGNING_KEYS: 'not a key set' }

/**
 * The mail queue of the reset scenarios: a stand-in for Lambda's `Invoke` API that takes every signed asynchronous
 * invocation (202) and runs nothing, keeping the events; no scenario reads a mail. The test environment configures
 * no mail sender, as a deployment without mail settings, so a reset request is answered 503 without it.
 */
const invocations: unknown[] = []
const lambdaStub = createServer(async (request, response) => {
  const chunks: Buffer[] = []
  for await (const chunk of request) chunks.push(chunk as Buffer)
  const signed = String(request.headers.authorization ?? '').startsWith('AWS4-HMAC-SHA256 ')
  if (!signed || request.headers['x-amz-invocation-type'] !== 'Event') return response.writeHead(400).end()
  invocations.push(JSON.parse(Buffer.concat(chunks).toString('utf8')))
  response.writeHead(202, { 'content-type': 'application/json' }).end('{}')
})
beforeAll(async () => {
  lambdaStub.listen(0, '127.0.0.1')
  await once(lambdaStub, 'listening')
})
afterAll(() => new Promise((done) => lambdaStub.close(done)))

/** A function's mail settings, its queue at `endpoint` (the stand-in above by default), as a deployment sets them. */
const mailQueue = (endpoint = `http://127.0.0.1:${(lambdaStub.address() as AddressInfo).port}`) => ({
  MAILER_FUNCTION_NAME: 'send-mail',
  AWS_ENDPOINT_URL_LAMBDA: endpoint,
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
})

/** A reset request that hands its job to the queue, for an account (`fixtures.email`) or an unknown email alike. */
async function queuedReset(email: string): Promise<Reply> {
  const before = invocations.length
  const reply = await coldCall('password-reset', mailQueue(), () => resetEvent(email))
  expect(invocations.slice(before)).toEqual([{ job: expect.stringMatching(/^[0-9a-f-]{36}$/) }])
  return reply
}

/** A live code of `purpose` for the account `userId`, stored as the mail sender stores one (its hash). */
async function liveEmailCode(userId: number, purpose: 'verify' | 'change', newEmail: string | null = null) {
  const code = '123456'
  const database = testDatabase()
  try {
    await database.db.execute(sql`
      insert into email_codes (user_id, purpose, code_hash, new_email, job_id, requested_at, expires_at)
      values (${userId}, ${purpose}, ${hashEmailCode(userId, code)}, ${newEmail}, gen_random_uuid(), now(),
        now() + interval '30 seconds')`)
  } finally {
    await database.close()
  }
  return code
}

const verificationEvent = (email = fixtures.email) => jsonEvent(EMAIL_VERIFICATION, { email })
const verificationConfirmEvent = (body: unknown = { email: fixtures.email, code: '000000' }) =>
  jsonEvent(EMAIL_VERIFICATION_CONFIRM, body)
const emailChangeEvent = (
  token: string,
  body: unknown = { new_email: uniqueEmail('moved'), current_password: PASSWORD },
) => jsonEvent(EMAIL_CHANGE, body, { headers: withToken(token) })
const emailChangeConfirmEvent = (token: string, body: unknown = { code: '000000' }) =>
  jsonEvent(EMAIL_CHANGE_CONFIRM, body, { headers: withToken(token) })

/** A live reset link's token for a new account, stored as the mail sender stores one (its hash, 30 s to live). */
async function liveResetToken(): Promise<string> {
  const { email } = await freshSession()
  const token = newResetToken()
  const database = testDatabase()
  try {
    await database.db.execute(sql`
      insert into password_reset_tokens (user_id, token_hash, job_id, requested_at, expires_at)
      select id, ${hashResetToken(token)}, gen_random_uuid(), now(), now() + interval '30 seconds'
      from users where email = ${email}`)
  } finally {
    await database.close()
  }
  return token
}

/**
 * The published keys' secret as a deploy leaves it, a placeholder until its rotation function writes the first key
 * set: the function answers 503 (and its next request reads the secret again).
 */
async function keysNotCreated(name: keyof typeof freshHandlers, event: () => APIGatewayProxyEventV2) {
  const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:PublicKeys-AbCdEf'
  const secretsManager = await startLocalSecretsManager(new Map([[arn, 'aPlaceholderThatIsNoKeySet0123456']]))
  try {
    return await coldCall(
      name,
      {
        JWT_SIGNING_KEYS: undefined,
        JWT_PUBLIC_KEYS_SECRET_ARN: arn,
        AWS_REGION: 'eu-west-1',
        AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsManager.url,
        AWS_ACCESS_KEY_ID: 'AKIDTEST',
        AWS_SECRET_ACCESS_KEY: 'test-secret',
      },
      event,
    )
  } finally {
    await secretsManager.close()
  }
}

interface Scenario {
  key: string
  label: string
  run: () => Promise<Reply>
}

/** One source address that has spent its registrations, for the registration limit's 429. */
const LIMITED_SOURCE_IP = '198.51.100.77'

const register201 = () => jsonEvent(REGISTER, { email: uniqueEmail(), password: PASSWORD })
const loginBody = () => jsonEvent(LOGIN, { email: fixtures.email, password: PASSWORD })
const tokenForm = () =>
  formEvent(TOKEN, { grant_type: 'password', username: fixtures.email, password: PASSWORD })
const refreshBody = () => jsonEvent(REFRESH, { refresh_token: 'not-a-token' })
const logoutBody = () => jsonEvent(LOGOUT, { refresh_token: 'not-a-token' })
const meEvent = () => bearer(`Bearer ${fixtures.accessToken}`)
const withToken = (token: string) => ({ authorization: `Bearer ${token}` })
const sessionsEvent = (token = fixtures.accessToken) =>
  apiEvent('GET', SESSIONS, undefined, { headers: withToken(token) })
const endSessionEvent = (id: string, token = fixtures.accessToken) =>
  apiEvent('DELETE', `${SESSIONS}/${id}`, undefined, { headers: withToken(token) })
const exportEvent = (token = fixtures.accessToken) =>
  apiEvent('GET', EXPORT, undefined, { headers: withToken(token) })
const endSessionsEvent = (token: string) =>
  apiEvent('DELETE', SESSIONS, undefined, { headers: withToken(token) })
const changePasswordEvent = (
  token: string,
  body: unknown = { current_password: PASSWORD, new_password: 'a new password' },
) => jsonEvent(CHANGE_PASSWORD, body, { headers: withToken(token) })
const UNKNOWN_SESSION = '00000000-0000-4000-8000-000000000000'
const preferencesEvent = (token: string) =>
  apiEvent('GET', PREFERENCES, undefined, { headers: withToken(token) })
const putPreferencesEvent = (token: string, body: unknown = { exam_board: 'WAEC', subjects: ['Physics'] }) =>
  apiEvent('PUT', PREFERENCES, typeof body === 'string' ? body : JSON.stringify(body), {
    headers: { 'content-type': 'application/json', ...withToken(token) },
  })
const deleteAccountEvent = (token: string, body: unknown = { current_password: PASSWORD }) =>
  apiEvent('DELETE', ME, typeof body === 'string' ? body : JSON.stringify(body), {
    headers: { 'content-type': 'application/json', ...withToken(token) },
  })
const deletionLinkEvent = (email = fixtures.email) => jsonEvent(ACCOUNT_DELETION, { email })
const deletionConfirmEvent = (body: unknown = { token: 'not-a-token' }) =>
  jsonEvent(ACCOUNT_DELETION_CONFIRM, body)
/** Deletion links are mailed only where the front-end's deletion page is configured. */
const deletionLinks = () => ({
  ...mailQueue(),
  ACCOUNT_DELETION_URL: 'https://app.example.test/delete?token={token}',
})

/** A live deletion link's token for account `userId`, stored as the mail sender stores one (on `url`'s database). */
async function liveDeletionToken(userId: number, url?: string): Promise<string> {
  const token = newResetToken()
  const database = testDatabase(url)
  try {
    await database.db.execute(sql`
      insert into account_deletion_tokens (user_id, token_hash, job_id, requested_at, expires_at)
      values (${userId}, ${hashResetToken(token)}, gen_random_uuid(), now(), now() + interval '30 seconds')`)
  } finally {
    await database.close()
  }
  return token
}

const resetEvent = (email = fixtures.email) => jsonEvent(PASSWORD_RESET, { email })
const confirmEvent = (body: unknown = { token: 'not-a-token', new_password: 'a new password' }) =>
  jsonEvent(PASSWORD_RESET_CONFIRM, body)
const withoutRetryAfter = async (reply: Promise<Reply>) => {
  const answered = await reply
  expect(answered.headers['retry-after']).toBeUndefined()
  return answered
}
const withDetail = (detail: string) => async (reply: Promise<Reply>) => {
  const answered = await reply
  expect(json(answered).detail).toBe(detail)
  return answered
}

/** A new account, logged in once: for the scenarios that end sessions or change the password. */
async function freshSession(): Promise<{
  id: number
  email: string
  accessToken: string
  refreshToken: string
}> {
  const email = uniqueEmail('sessions')
  const registered = await call(register, jsonEvent(REGISTER, { email, password: PASSWORD }))
  expect(registered.status).toBe(201)
  const reply = json(await call(login, jsonEvent(LOGIN, { email, password: PASSWORD })))
  return {
    id: Number(json(registered).id),
    email,
    accessToken: String(reply.access_token),
    refreshToken: String(reply.refresh_token),
  }
}

const ADMIN_USERS = `${API_BASE_PATH}/admin/users`
const ADMIN_USER = `${ADMIN_USERS}/{id}`
const ADMIN_SESSIONS = `${ADMIN_USER}/sessions`
const ADMIN_RESET = `${ADMIN_USER}/password-reset`
/** An id no account has: the largest a `serial` makes. */
const UNKNOWN_USER_ID = 2_147_483_647

/** A request to an admin route, as API Gateway passes it: by default the superuser's, about the plain user. */
function adminEvent(
  method: string,
  template: string,
  {
    id = fixtures.userId,
    query = '',
    token = admin.token,
    body,
    contentType = 'application/json',
  }: {
    id?: number | string
    query?: string
    /** `null`: no `Authorization` header. */
    token?: string | null
    body?: unknown
    contentType?: string
  } = {},
): APIGatewayProxyEventV2 {
  const path = template.replace('{id}', String(id))
  const raw = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
  return toApiGatewayEvent(
    {
      method,
      url: query === '' ? path : `${path}?${query}`,
      headers: {
        host: 'api.test',
        ...(token === null ? {} : withToken(token)),
        ...(raw === undefined ? {} : { 'content-type': contentType }),
      },
      body: raw,
      sourceIp: '198.18.22.22',
    },
    `${method} ${template}`,
  )
}

/** The reply, after checking its body is the example `name` its documented response gives. */
const asExample = (key: string, name: string) => async (reply: Promise<Reply>) => {
  const answered = await reply
  const media = (documentedResponse(key).content as Record<string, OpenApiObject>)['application/json']
  const examples = media?.examples as Record<string, { value: unknown }> | undefined
  expect(examples?.[name], `${key} example ${name}`).toBeDefined()
  expect(json(answered)).toEqual(examples?.[name]?.value)
  return answered
}

/** The reply, after checking it is RFC 9470's answer to a login too old, with `max_age` as configured. */
const staleLogin = (key: string) => async (reply: Promise<Reply>) => {
  const answered = await asExample(key, 'staleLogin')(reply)
  expect(answered.headers['www-authenticate']).toBe(staleLoginChallenge(config))
  expect(answered.headers['www-authenticate']).toContain(`max_age="${config.ADMIN_MAX_AUTH_AGE_SECONDS}"`)
  return answered
}

let lone: Promise<{ env: Record<string, string>; id: number; token: string }> | undefined
let loneDatabase: string | undefined
/**
 * A database of its own, migrated, whose one active superuser is logged in: the shared test database has other
 * superusers (seed-admin's, this file's), so only here is an account the last one.
 */
const loneSuperuser = () =>
  (lone ??= (async () => {
    loneDatabase = `openapi_${process.pid}_${Date.now().toString(36)}`
    await database.db.execute(sql.raw(`create database "${loneDatabase}"`))
    const url = superuserOn(loneDatabase)
    await runMigrations({ url, wsProxy: inject('wsProxy'), limits: migrationLimits(config) })
    const env = { DATABASE_URL: url }
    const email = uniqueEmail('lone')
    const registered = await coldCall('register', env, () =>
      jsonEvent(REGISTER, { email, password: PASSWORD }),
    )
    const own = testDatabase(url)
    try {
      await own.db.execute(
        sql`update users set is_superuser = true where id = ${Number(json(registered).id)}`,
      )
    } finally {
      await own.close()
    }
    const pair = json(await coldCall('login', env, () => jsonEvent(LOGIN, { email, password: PASSWORD })))
    return { env, id: Number(json(registered).id), token: String(pair.access_token) }
  })())
afterAll(async () => {
  if (loneDatabase)
    await database.db.execute(sql.raw(`drop database if exists "${loneDatabase}" with (force)`))
})

type AdminFunction = Extract<keyof typeof freshHandlers, `admin-${string}`>

/** Each admin function's handler, of the module graph this file imported. */
const adminHandlers: Record<AdminFunction, Handler> = {
  'admin-list-users': adminListUsers,
  'admin-get-user': adminGetUser,
  'admin-update-user': adminUpdateUser,
  'admin-end-sessions': adminEndSessions,
  'admin-password-reset': adminPasswordReset,
  'admin-delete-user': adminDeleteUser,
}

/** What every admin route answers before its own work: the refusals of its callers, a bad or unknown id, a fault. */
function callerScenarios(name: AdminFunction, method: string, template: string, body?: unknown): Scenario[] {
  const handler = adminHandlers[name]
  const key = (status: number) => `${method} ${template} ${status}`
  const event = (options: Parameters<typeof adminEvent>[2] = {}) =>
    adminEvent(method, template, { body, ...options })
  const withId = template.includes('{id}')
  // The reset looks the account up only where mail is configured; without it, it is 503 whatever the id.
  const mailed = name === 'admin-password-reset'
  return [
    {
      key: key(401),
      label: 'no Authorization header',
      run: () => asExample(key(401), 'notAuthenticated')(call(handler, event({ token: null }))),
    },
    {
      key: key(401),
      label: 'a superuser’s login more than ADMIN_MAX_AUTH_AGE_SECONDS ago',
      run: () => staleLogin(key(401))(call(handler, event({ token: admin.staleToken }))),
    },
    {
      key: key(403),
      label: 'a plain user',
      run: () => call(handler, event({ token: fixtures.accessToken })),
    },
    {
      key: key(500),
      label: 'broken configuration',
      run: () => coldCall(name, brokenConfig, () => event()),
    },
    {
      key: key(503),
      label: 'database down',
      run: async () =>
        coldCall(name, { ...(await databaseDown()), ...(mailed ? mailQueue() : {}) }, () => event()),
    },
    ...(withId
      ? [
          {
            key: key(404),
            label: 'an id no account has',
            run: () =>
              mailed
                ? coldCall(name, mailQueue(), () => event({ id: UNKNOWN_USER_ID }))
                : call(handler, event({ id: UNKNOWN_USER_ID })),
          },
          {
            key: key(422),
            label: 'an id that is not a whole number',
            run: () => asExample(key(422), 'id')(call(handler, event({ id: '7.0' }))),
          },
        ]
      : []),
  ]
}

/** Scenarios of the admin routes: each route's own, and its callers' refusals. */
const adminScenarios: Scenario[] = [
  ...callerScenarios('admin-list-users', 'GET', ADMIN_USERS),
  {
    key: `GET ${ADMIN_USERS} 200`,
    label: 'a page and its cursor',
    run: async () => {
      const reply = await call(adminListUsers, adminEvent('GET', ADMIN_USERS, { query: 'limit=2' }))
      const page = json(reply) as unknown as UserPage
      expect(page.items).toHaveLength(2)
      expect(page.next_cursor).toEqual(expect.any(String))
      return call(
        adminListUsers,
        adminEvent('GET', ADMIN_USERS, { query: `limit=2&cursor=${page.next_cursor}&is_active=true` }),
      )
    },
  },
  {
    key: `GET ${ADMIN_USERS} 200`,
    label: 'a search',
    run: async () => {
      const reply = await call(
        adminListUsers,
        adminEvent('GET', ADMIN_USERS, { query: `q=${encodeURIComponent(fixtures.email.toUpperCase())}` }),
      )
      expect((json(reply) as unknown as UserPage).items.map((user) => user.id)).toEqual([fixtures.userId])
      return reply
    },
  },
  {
    key: `GET ${ADMIN_USERS} 422`,
    label: 'a limit out of range',
    run: () =>
      asExample(
        `GET ${ADMIN_USERS} 422`,
        'limit',
      )(call(adminListUsers, adminEvent('GET', ADMIN_USERS, { query: `limit=${ADMIN_PAGE_MAX + 1}` }))),
  },
  {
    key: `GET ${ADMIN_USERS} 422`,
    label: 'a cursor not made here',
    run: () =>
      asExample(
        `GET ${ADMIN_USERS} 422`,
        'cursor',
      )(call(adminListUsers, adminEvent('GET', ADMIN_USERS, { query: 'cursor=nope!' }))),
  },
  {
    key: `GET ${ADMIN_USERS} 422`,
    label: 'a flag that is not true or false',
    run: () =>
      asExample(
        `GET ${ADMIN_USERS} 422`,
        'flag',
      )(call(adminListUsers, adminEvent('GET', ADMIN_USERS, { query: 'is_active=yes' }))),
  },

  ...callerScenarios('admin-get-user', 'GET', ADMIN_USER),
  {
    key: `GET ${ADMIN_USER} 200`,
    label: 'an account',
    run: () => call(adminGetUser, adminEvent('GET', ADMIN_USER)),
  },

  ...callerScenarios('admin-update-user', 'PATCH', ADMIN_USER, { is_active: true }),
  {
    key: `PATCH ${ADMIN_USER} 200`,
    label: 'a deactivation',
    run: async () => {
      const { id } = await freshSession()
      return call(adminUpdateUser, adminEvent('PATCH', ADMIN_USER, { id, body: { is_active: false } }))
    },
  },
  {
    key: `PATCH ${ADMIN_USER} 200`,
    label: 'a promotion and a demotion',
    run: async () => {
      const { id } = await freshSession()
      expect(
        (await call(adminUpdateUser, adminEvent('PATCH', ADMIN_USER, { id, body: { is_superuser: true } })))
          .status,
      ).toBe(200)
      return call(adminUpdateUser, adminEvent('PATCH', ADMIN_USER, { id, body: { is_superuser: false } }))
    },
  },
  {
    key: `PATCH ${ADMIN_USER} 409`,
    label: 'the last active superuser demoting itself',
    run: async () => {
      const { env, id, token } = await loneSuperuser()
      return coldCall('admin-update-user', env, () =>
        adminEvent('PATCH', ADMIN_USER, { id, token, body: { is_superuser: false } }),
      )
    },
  },
  {
    key: `PATCH ${ADMIN_USER} 413`,
    label: 'body too large',
    run: () =>
      call(adminUpdateUser, adminEvent('PATCH', ADMIN_USER, { body: { is_active: true, note: tooLarge } })),
  },
  {
    key: `PATCH ${ADMIN_USER} 415`,
    label: 'text body',
    run: () =>
      call(
        adminUpdateUser,
        adminEvent('PATCH', ADMIN_USER, { body: '{"is_active":true}', contentType: 'text/plain' }),
      ),
  },
  {
    key: `PATCH ${ADMIN_USER} 422`,
    label: 'nothing to change',
    run: () =>
      asExample(
        `PATCH ${ADMIN_USER} 422`,
        'empty',
      )(call(adminUpdateUser, adminEvent('PATCH', ADMIN_USER, { body: {} }))),
  },
  {
    key: `PATCH ${ADMIN_USER} 422`,
    label: 'another field',
    run: () =>
      asExample(
        `PATCH ${ADMIN_USER} 422`,
        'other',
      )(call(adminUpdateUser, adminEvent('PATCH', ADMIN_USER, { body: { email: 'x@example.com' } }))),
  },

  ...callerScenarios('admin-end-sessions', 'DELETE', ADMIN_SESSIONS),
  {
    key: `DELETE ${ADMIN_SESSIONS} 204`,
    label: 'an account with a session',
    run: async () => {
      const { id, accessToken } = await freshSession()
      const reply = await call(adminEndSessions, adminEvent('DELETE', ADMIN_SESSIONS, { id }))
      expect((await call(me, bearer(`Bearer ${accessToken}`))).status).toBe(401)
      return reply
    },
  },

  ...callerScenarios('admin-password-reset', 'POST', ADMIN_RESET),
  {
    key: `POST ${ADMIN_RESET} 202`,
    label: 'an active account',
    run: async () => {
      const before = invocations.length
      const reply = await coldCall('admin-password-reset', mailQueue(), () =>
        adminEvent('POST', ADMIN_RESET, { id: fixtures.userId }),
      )
      expect(json(reply)).toEqual(ADMIN_RESET_ACCEPTED)
      expect(invocations.slice(before)).toEqual([{ job: expect.stringMatching(/^[0-9a-f-]{36}$/) }])
      return reply
    },
  },
  {
    key: `POST ${ADMIN_RESET} 409`,
    label: 'a deactivated account',
    run: async () => {
      const { id } = await freshSession()
      await database.db.execute(sql`update users set is_active = false where id = ${id}`)
      return withDetail('The user is inactive')(
        coldCall('admin-password-reset', mailQueue(), () => adminEvent('POST', ADMIN_RESET, { id })),
      )
    },
  },
  {
    key: `POST ${ADMIN_RESET} 503`,
    label: 'no mail configured',
    run: () =>
      withoutRetryAfter(
        withDetail('Password reset by email is not configured on this server')(
          call(adminPasswordReset, adminEvent('POST', ADMIN_RESET)),
        ),
      ),
  },
  {
    key: `POST ${ADMIN_RESET} 503`,
    label: 'the mail queue unreachable',
    run: async () =>
      withDetail('Service temporarily unavailable')(
        coldCall('admin-password-reset', mailQueue(`http://127.0.0.1:${await freePort()}`), () =>
          adminEvent('POST', ADMIN_RESET),
        ),
      ),
  },

  ...callerScenarios('admin-delete-user', 'DELETE', ADMIN_USER),
  {
    key: `DELETE ${ADMIN_USER} 204`,
    label: 'an account',
    run: async () => {
      const { id, accessToken } = await freshSession()
      const reply = await call(adminDeleteUser, adminEvent('DELETE', ADMIN_USER, { id }))
      expect((await call(me, bearer(`Bearer ${accessToken}`))).status).toBe(401)
      return reply
    },
  },
  {
    key: `DELETE ${ADMIN_USER} 409`,
    label: 'the last active superuser deleting itself',
    run: async () => {
      const { env, id, token } = await loneSuperuser()
      return coldCall('admin-delete-user', env, () => adminEvent('DELETE', ADMIN_USER, { id, token }))
    },
  },
]

const scenarios: Scenario[] = [
  { key: `POST ${REGISTER} 201`, label: 'a new account', run: () => call(register, register201()) },
  {
    key: `POST ${REGISTER} 429`,
    label: 'too many registrations from one address',
    run: () =>
      call(
        register,
        jsonEvent(REGISTER, { email: uniqueEmail(), password: PASSWORD }, { sourceIp: LIMITED_SOURCE_IP }),
      ),
  },
  {
    key: `POST ${REGISTER} 400`,
    label: 'email taken',
    run: () => call(register, jsonEvent(REGISTER, { email: fixtures.email, password: PASSWORD })),
  },
  {
    key: `POST ${REGISTER} 400`,
    label: 'username taken',
    run: () =>
      call(
        register,
        jsonEvent(REGISTER, { email: uniqueEmail(), password: PASSWORD, username: fixtures.username }),
      ),
  },
  {
    key: `POST ${REGISTER} 413`,
    label: 'body too large',
    run: () => call(register, jsonEvent(REGISTER, { email: uniqueEmail(), password: tooLarge })),
  },
  { key: `POST ${REGISTER} 415`, label: 'text body', run: () => call(register, textBody(REGISTER, '{}')) },
  {
    key: `POST ${REGISTER} 422`,
    label: 'invalid fields',
    run: () => call(register, jsonEvent(REGISTER, { email: 'nope', password: 'short' })),
  },
  {
    key: `POST ${REGISTER} 422`,
    label: 'malformed JSON',
    run: () =>
      call(register, apiEvent('POST', REGISTER, '{', { headers: { 'content-type': 'application/json' } })),
  },
  {
    key: `POST ${REGISTER} 500`,
    label: 'broken configuration',
    run: () => coldCall('register', brokenConfig, register201),
  },
  {
    key: `POST ${REGISTER} 503`,
    label: 'database down',
    run: async () => coldCall('register', await databaseDown(), register201),
  },

  { key: `POST ${LOGIN} 200`, label: 'right password', run: () => call(login, loginBody()) },
  {
    key: `POST ${LOGIN} 401`,
    label: 'wrong password',
    run: () => call(login, jsonEvent(LOGIN, { email: fixtures.email, password: 'wrong password' })),
  },
  {
    key: `POST ${LOGIN} 413`,
    label: 'body too large',
    run: () => call(login, jsonEvent(LOGIN, { email: fixtures.email, password: tooLarge })),
  },
  { key: `POST ${LOGIN} 415`, label: 'text body', run: () => call(login, textBody(LOGIN, '{}')) },
  {
    key: `POST ${LOGIN} 422`,
    label: 'missing password',
    run: () => call(login, jsonEvent(LOGIN, { email: fixtures.email })),
  },
  {
    key: `POST ${LOGIN} 429`,
    label: 'locked out',
    run: () => call(login, jsonEvent(LOGIN, { email: lockedOutEmail, password: 'wrong password' })),
  },
  {
    key: `POST ${LOGIN} 500`,
    label: 'broken configuration',
    run: () => coldCall('login', brokenConfig, loginBody),
  },
  {
    key: `POST ${LOGIN} 503`,
    label: 'database down',
    run: async () => coldCall('login', await databaseDown(), loginBody),
  },

  { key: `POST ${TOKEN} 200`, label: 'password grant', run: () => call(token, tokenForm()) },
  {
    key: `POST ${TOKEN} 400`,
    label: 'invalid_grant',
    run: () => call(token, formEvent(TOKEN, { username: fixtures.email, password: 'wrong password' })),
  },
  {
    key: `POST ${TOKEN} 400`,
    label: 'invalid_request',
    run: () => call(token, formEvent(TOKEN, { grant_type: 'password', password: PASSWORD })),
  },
  {
    key: `POST ${TOKEN} 400`,
    label: 'unsupported_grant_type',
    run: () => call(token, formEvent(TOKEN, { grant_type: 'client_credentials' })),
  },
  {
    key: `POST ${TOKEN} 413`,
    label: 'body too large',
    run: () => call(token, formEvent(TOKEN, { username: fixtures.email, password: tooLarge })),
  },
  {
    key: `POST ${TOKEN} 415`,
    label: 'JSON body',
    run: () => call(token, jsonEvent(TOKEN, { username: fixtures.email, password: PASSWORD })),
  },
  {
    key: `POST ${TOKEN} 429`,
    label: 'locked out',
    run: () => call(token, formEvent(TOKEN, { username: lockedOutEmail, password: 'wrong password' })),
  },
  {
    key: `POST ${TOKEN} 500`,
    label: 'broken configuration',
    run: () => coldCall('token', brokenConfig, tokenForm),
  },
  {
    key: `POST ${TOKEN} 503`,
    label: 'database down',
    run: async () => coldCall('token', await databaseDown(), tokenForm),
  },

  {
    key: `POST ${REFRESH} 200`,
    label: 'a live refresh token',
    run: () => call(refresh, jsonEvent(REFRESH, { refresh_token: fixtures.refreshTokens[0] })),
  },
  { key: `POST ${REFRESH} 401`, label: 'unknown token', run: () => call(refresh, refreshBody()) },
  {
    key: `POST ${REFRESH} 413`,
    label: 'body too large',
    run: () => call(refresh, jsonEvent(REFRESH, { refresh_token: tooLarge })),
  },
  { key: `POST ${REFRESH} 415`, label: 'text body', run: () => call(refresh, textBody(REFRESH, '{}')) },
  { key: `POST ${REFRESH} 422`, label: 'no token', run: () => call(refresh, jsonEvent(REFRESH, {})) },
  {
    key: `POST ${REFRESH} 500`,
    label: 'broken configuration',
    run: () => coldCall('refresh', brokenConfig, refreshBody),
  },
  {
    key: `POST ${REFRESH} 503`,
    label: 'database down',
    run: async () => coldCall('refresh', await databaseDown(), refreshBody),
  },

  {
    key: `POST ${LOGOUT} 204`,
    label: 'a live refresh token',
    run: () => call(logout, jsonEvent(LOGOUT, { refresh_token: fixtures.refreshTokens[1] })),
  },
  {
    key: `POST ${LOGOUT} 413`,
    label: 'body too large',
    run: () => call(logout, jsonEvent(LOGOUT, { refresh_token: tooLarge })),
  },
  { key: `POST ${LOGOUT} 415`, label: 'text body', run: () => call(logout, textBody(LOGOUT, '{}')) },
  { key: `POST ${LOGOUT} 422`, label: 'no token', run: () => call(logout, jsonEvent(LOGOUT, {})) },
  {
    key: `POST ${LOGOUT} 500`,
    label: 'broken configuration',
    run: () => coldCall('logout', brokenConfig, logoutBody),
  },
  {
    key: `POST ${LOGOUT} 503`,
    label: 'database down',
    run: async () => coldCall('logout', await databaseDown(), logoutBody),
  },

  { key: `GET ${ME} 200`, label: 'a valid access token', run: () => call(me, meEvent()) },
  { key: `GET ${ME} 401`, label: 'no Authorization header', run: () => call(me, apiEvent('GET', ME)) },
  { key: `GET ${ME} 401`, label: 'an invalid token', run: () => call(me, bearer('Bearer not.a.jwt')) },
  { key: `GET ${ME} 500`, label: 'broken configuration', run: () => coldCall('me', brokenConfig, meEvent) },
  {
    key: `GET ${ME} 503`,
    label: 'database down',
    run: async () => coldCall('me', await databaseDown(), meEvent),
  },

  { key: `GET ${SESSIONS} 200`, label: 'a valid access token', run: () => call(sessions, sessionsEvent()) },
  {
    key: `GET ${SESSIONS} 401`,
    label: 'no Authorization header',
    run: () => call(sessions, apiEvent('GET', SESSIONS)),
  },
  {
    key: `GET ${SESSIONS} 500`,
    label: 'broken configuration',
    run: () => coldCall('list-sessions', brokenConfig, () => sessionsEvent()),
  },
  {
    key: `GET ${SESSIONS} 503`,
    label: 'database down',
    run: async () => coldCall('list-sessions', await databaseDown(), () => sessionsEvent()),
  },

  {
    key: `GET ${EXPORT} 200`,
    label: 'a valid access token',
    run: async () => {
      const reply = await call(exportAccount, exportEvent())
      expect(json(reply)).toMatchObject({ user: { id: fixtures.userId, email: fixtures.email } })
      return reply
    },
  },
  {
    key: `GET ${EXPORT} 401`,
    label: 'no Authorization header',
    run: () => call(exportAccount, apiEvent('GET', EXPORT)),
  },
  {
    key: `GET ${EXPORT} 401`,
    label: 'an invalid token',
    run: () => call(exportAccount, exportEvent('not.a.jwt')),
  },
  {
    key: `GET ${EXPORT} 500`,
    label: 'broken configuration',
    run: () => coldCall('export-account', brokenConfig, () => exportEvent()),
  },
  {
    key: `GET ${EXPORT} 503`,
    label: 'database down',
    run: async () => coldCall('export-account', await databaseDown(), () => exportEvent()),
  },

  {
    key: `DELETE ${SESSION} 204`,
    label: 'a session of the user',
    run: async () => {
      const { accessToken } = await freshSession()
      const [listed] = json(await call(sessions, sessionsEvent(accessToken))) as unknown as { id: string }[]
      return call(endSession, endSessionEvent(listed?.id ?? '', accessToken))
    },
  },
  {
    key: `DELETE ${SESSION} 401`,
    label: 'an invalid token',
    run: () => call(endSession, endSessionEvent(UNKNOWN_SESSION, 'not.a.jwt')),
  },
  {
    key: `DELETE ${SESSION} 404`,
    label: 'an unknown id',
    run: () => call(endSession, endSessionEvent(UNKNOWN_SESSION)),
  },
  {
    key: `DELETE ${SESSION} 500`,
    label: 'broken configuration',
    run: () => coldCall('end-one-session', brokenConfig, () => endSessionEvent(UNKNOWN_SESSION)),
  },
  {
    key: `DELETE ${SESSION} 503`,
    label: 'database down',
    run: async () =>
      coldCall('end-one-session', await databaseDown(), () => endSessionEvent(UNKNOWN_SESSION)),
  },

  {
    key: `DELETE ${SESSIONS} 204`,
    label: 'every session of the user',
    run: async () => call(endSessions, endSessionsEvent((await freshSession()).accessToken)),
  },
  {
    key: `DELETE ${SESSIONS} 401`,
    label: 'an invalid token',
    run: () => call(endSessions, endSessionsEvent('not.a.jwt')),
  },
  {
    key: `DELETE ${SESSIONS} 500`,
    label: 'broken configuration',
    run: () => coldCall('end-all-sessions', brokenConfig, () => endSessionsEvent(fixtures.accessToken)),
  },
  {
    key: `DELETE ${SESSIONS} 503`,
    label: 'database down',
    run: async () =>
      coldCall('end-all-sessions', await databaseDown(), () => endSessionsEvent(fixtures.accessToken)),
  },

  {
    key: `POST ${CHANGE_PASSWORD} 204`,
    label: 'the right current password',
    run: async () => call(changePassword, changePasswordEvent((await freshSession()).accessToken)),
  },
  {
    key: `POST ${CHANGE_PASSWORD} 400`,
    label: 'a wrong current password',
    run: async () =>
      call(
        changePassword,
        changePasswordEvent((await freshSession()).accessToken, {
          current_password: 'wrong password',
          new_password: 'a new password',
        }),
      ),
  },
  {
    key: `POST ${CHANGE_PASSWORD} 401`,
    label: 'no Authorization header',
    run: () =>
      call(
        changePassword,
        jsonEvent(CHANGE_PASSWORD, { current_password: PASSWORD, new_password: 'a new password' }),
      ),
  },
  {
    key: `POST ${CHANGE_PASSWORD} 413`,
    label: 'body too large',
    run: () =>
      call(
        changePassword,
        changePasswordEvent(fixtures.accessToken, {
          current_password: tooLarge,
          new_password: 'a new password',
        }),
      ),
  },
  {
    key: `POST ${CHANGE_PASSWORD} 415`,
    label: 'text body',
    run: () =>
      call(
        changePassword,
        apiEvent('POST', CHANGE_PASSWORD, '{}', {
          headers: { 'content-type': 'text/plain', ...withToken(fixtures.accessToken) },
        }),
      ),
  },
  {
    key: `POST ${CHANGE_PASSWORD} 422`,
    label: 'a new password too short',
    run: () =>
      call(
        changePassword,
        changePasswordEvent(fixtures.accessToken, { current_password: PASSWORD, new_password: 'short' }),
      ),
  },
  {
    key: `POST ${CHANGE_PASSWORD} 429`,
    label: 'locked out by failed logins',
    run: async () => {
      const { email, accessToken } = await freshSession()
      for (let attempt = 0; attempt < config.LOGIN_MAX_FAILURES; attempt++) {
        await call(login, jsonEvent(LOGIN, { email, password: 'wrong password' }))
      }
      return call(changePassword, changePasswordEvent(accessToken))
    },
  },
  {
    key: `POST ${CHANGE_PASSWORD} 500`,
    label: 'broken configuration',
    run: () => coldCall('change-password', brokenConfig, () => changePasswordEvent(fixtures.accessToken)),
  },
  {
    key: `POST ${CHANGE_PASSWORD} 503`,
    label: 'database down',
    run: async () =>
      coldCall('change-password', await databaseDown(), () => changePasswordEvent(fixtures.accessToken)),
  },

  {
    key: `GET ${PREFERENCES} 200`,
    label: 'the defaults, never saved',
    run: async () => call(getPreferences, preferencesEvent((await freshSession()).accessToken)),
  },
  {
    key: `GET ${PREFERENCES} 401`,
    label: 'no Authorization header',
    run: () => call(getPreferences, apiEvent('GET', PREFERENCES)),
  },
  {
    key: `GET ${PREFERENCES} 500`,
    label: 'broken configuration',
    run: () => coldCall('get-preferences', brokenConfig, () => preferencesEvent(fixtures.accessToken)),
  },
  {
    key: `GET ${PREFERENCES} 503`,
    label: 'database down',
    run: async () =>
      coldCall('get-preferences', await databaseDown(), () => preferencesEvent(fixtures.accessToken)),
  },
  {
    key: `PUT ${PREFERENCES} 200`,
    label: 'saved',
    run: async () => call(putPreferences, putPreferencesEvent((await freshSession()).accessToken)),
  },
  {
    key: `PUT ${PREFERENCES} 401`,
    label: 'no Authorization header',
    run: () =>
      call(
        putPreferences,
        apiEvent('PUT', PREFERENCES, '{"exam_board":null,"subjects":[]}', {
          headers: { 'content-type': 'application/json' },
        }),
      ),
  },
  {
    key: `PUT ${PREFERENCES} 413`,
    label: 'body too large',
    run: () =>
      call(putPreferences, putPreferencesEvent(fixtures.accessToken, { exam_board: tooLarge, subjects: [] })),
  },
  {
    key: `PUT ${PREFERENCES} 415`,
    label: 'text body',
    run: () =>
      call(
        putPreferences,
        apiEvent('PUT', PREFERENCES, '{}', {
          headers: { 'content-type': 'text/plain', ...withToken(fixtures.accessToken) },
        }),
      ),
  },
  {
    key: `PUT ${PREFERENCES} 422`,
    label: 'subjects missing',
    run: () => call(putPreferences, putPreferencesEvent(fixtures.accessToken, { exam_board: 'WAEC' })),
  },
  {
    key: `PUT ${PREFERENCES} 500`,
    label: 'broken configuration',
    run: () => coldCall('put-preferences', brokenConfig, () => putPreferencesEvent(fixtures.accessToken)),
  },
  {
    key: `PUT ${PREFERENCES} 503`,
    label: 'database down',
    run: async () =>
      coldCall('put-preferences', await databaseDown(), () => putPreferencesEvent(fixtures.accessToken)),
  },

  {
    key: `DELETE ${ME} 204`,
    label: 'the right password',
    run: async () => {
      const { accessToken } = await freshSession()
      const reply = await call(deleteAccount, deleteAccountEvent(accessToken))
      expect((await call(me, bearer(`Bearer ${accessToken}`))).status).toBe(401)
      return reply
    },
  },
  {
    key: `DELETE ${ME} 400`,
    label: 'a wrong password',
    run: async () => {
      const { accessToken } = await freshSession()
      return withDetail('Incorrect password')(
        call(deleteAccount, deleteAccountEvent(accessToken, { current_password: 'wrong password' })),
      )
    },
  },
  {
    key: `DELETE ${ME} 401`,
    label: 'no Authorization header',
    run: () =>
      call(
        deleteAccount,
        apiEvent('DELETE', ME, JSON.stringify({ current_password: PASSWORD }), {
          headers: { 'content-type': 'application/json' },
        }),
      ),
  },
  {
    key: `DELETE ${ME} 409`,
    label: 'the last active superuser',
    run: async () => {
      const { env, token } = await loneSuperuser()
      return coldCall('delete-account', env, () => deleteAccountEvent(token))
    },
  },
  {
    key: `DELETE ${ME} 413`,
    label: 'body too large',
    run: () => call(deleteAccount, deleteAccountEvent(fixtures.accessToken, { current_password: tooLarge })),
  },
  {
    key: `DELETE ${ME} 415`,
    label: 'text body',
    run: () =>
      call(
        deleteAccount,
        apiEvent('DELETE', ME, '{}', {
          headers: { 'content-type': 'text/plain', ...withToken(fixtures.accessToken) },
        }),
      ),
  },
  {
    key: `DELETE ${ME} 422`,
    label: 'no password',
    run: () => call(deleteAccount, deleteAccountEvent(fixtures.accessToken, {})),
  },
  {
    key: `DELETE ${ME} 429`,
    label: 'locked out by failed logins',
    run: async () => {
      const { email, accessToken } = await freshSession()
      for (let attempt = 0; attempt < config.LOGIN_MAX_FAILURES; attempt++) {
        await call(login, jsonEvent(LOGIN, { email, password: 'wrong password' }))
      }
      return call(deleteAccount, deleteAccountEvent(accessToken))
    },
  },
  {
    key: `DELETE ${ME} 500`,
    label: 'broken configuration',
    run: () => coldCall('delete-account', brokenConfig, () => deleteAccountEvent(fixtures.accessToken)),
  },
  {
    key: `DELETE ${ME} 503`,
    label: 'database down',
    run: async () =>
      coldCall('delete-account', await databaseDown(), () => deleteAccountEvent(fixtures.accessToken)),
  },

  {
    key: `POST ${ACCOUNT_DELETION} 202`,
    label: 'an account’s email',
    run: () =>
      withDetail(ACCOUNT_DELETION_ACCEPTED.detail)(
        coldCall('account-deletion', deletionLinks(), () => deletionLinkEvent(fixtures.email)),
      ),
  },
  {
    key: `POST ${ACCOUNT_DELETION} 202`,
    label: 'an unknown email',
    run: () =>
      withDetail(ACCOUNT_DELETION_ACCEPTED.detail)(
        coldCall('account-deletion', deletionLinks(), () => deletionLinkEvent(uniqueEmail('nobody'))),
      ),
  },
  {
    key: `POST ${ACCOUNT_DELETION} 413`,
    label: 'body too large',
    run: () => coldCall('account-deletion', deletionLinks(), () => deletionLinkEvent(tooLarge)),
  },
  {
    key: `POST ${ACCOUNT_DELETION} 415`,
    label: 'text body',
    run: () => coldCall('account-deletion', deletionLinks(), () => textBody(ACCOUNT_DELETION, '{}')),
  },
  {
    key: `POST ${ACCOUNT_DELETION} 422`,
    label: 'not an email',
    run: () => coldCall('account-deletion', deletionLinks(), () => deletionLinkEvent('nope')),
  },
  {
    key: `POST ${ACCOUNT_DELETION} 429`,
    label: 'past the per-email limit',
    run: () => {
      const email = uniqueEmail('deletions')
      return withDetail('Too many account deletion requests')(
        coldCall(
          'account-deletion',
          deletionLinks(),
          () => deletionLinkEvent(email),
          config.PASSWORD_RESET_EMAIL_LIMIT + 1,
        ),
      )
    },
  },
  {
    key: `POST ${ACCOUNT_DELETION} 500`,
    label: 'broken configuration',
    run: () => coldCall('account-deletion', brokenConfig, () => deletionLinkEvent()),
  },
  {
    key: `POST ${ACCOUNT_DELETION} 503`,
    label: 'mail, but no deletion page configured',
    run: () =>
      withoutRetryAfter(
        withDetail('Account deletion by email is not configured on this server')(
          coldCall('account-deletion', mailQueue(), () => deletionLinkEvent()),
        ),
      ),
  },
  {
    key: `POST ${ACCOUNT_DELETION} 503`,
    label: 'database down',
    run: async () =>
      coldCall('account-deletion', { ...(await databaseDown()), ...deletionLinks() }, () =>
        deletionLinkEvent(),
      ),
  },

  {
    key: `POST ${ACCOUNT_DELETION_CONFIRM} 204`,
    label: 'a live link’s token',
    run: async () => {
      const { id, accessToken } = await freshSession()
      const reply = await call(
        accountDeletionConfirm,
        deletionConfirmEvent({ token: await liveDeletionToken(id) }),
      )
      expect((await call(me, bearer(`Bearer ${accessToken}`))).status).toBe(401)
      return reply
    },
  },
  {
    key: `POST ${ACCOUNT_DELETION_CONFIRM} 400`,
    label: 'an unknown token',
    run: () =>
      withDetail('Invalid or expired account deletion token')(
        call(accountDeletionConfirm, deletionConfirmEvent()),
      ),
  },
  {
    key: `POST ${ACCOUNT_DELETION_CONFIRM} 409`,
    label: 'the last active superuser’s link',
    run: async () => {
      const { env, id } = await loneSuperuser()
      const token = await liveDeletionToken(id, env.DATABASE_URL)
      return coldCall('account-deletion-confirm', env, () => deletionConfirmEvent({ token }))
    },
  },
  {
    key: `POST ${ACCOUNT_DELETION_CONFIRM} 413`,
    label: 'body too large',
    run: () => call(accountDeletionConfirm, deletionConfirmEvent({ token: tooLarge })),
  },
  {
    key: `POST ${ACCOUNT_DELETION_CONFIRM} 415`,
    label: 'text body',
    run: () => call(accountDeletionConfirm, textBody(ACCOUNT_DELETION_CONFIRM, '{}')),
  },
  {
    key: `POST ${ACCOUNT_DELETION_CONFIRM} 422`,
    label: 'no token',
    run: () => call(accountDeletionConfirm, deletionConfirmEvent({})),
  },
  {
    key: `POST ${ACCOUNT_DELETION_CONFIRM} 500`,
    label: 'broken configuration',
    run: () => coldCall('account-deletion-confirm', brokenConfig, () => deletionConfirmEvent()),
  },
  {
    key: `POST ${ACCOUNT_DELETION_CONFIRM} 503`,
    label: 'database down',
    run: async () => coldCall('account-deletion-confirm', await databaseDown(), () => deletionConfirmEvent()),
  },

  {
    key: `POST ${PASSWORD_RESET} 202`,
    label: 'an account’s email',
    run: () => withDetail(PASSWORD_RESET_ACCEPTED.detail)(queuedReset(fixtures.email)),
  },
  {
    key: `POST ${PASSWORD_RESET} 202`,
    label: 'an unknown email',
    run: () => withDetail(PASSWORD_RESET_ACCEPTED.detail)(queuedReset(uniqueEmail('nobody'))),
  },
  {
    key: `POST ${PASSWORD_RESET} 413`,
    label: 'body too large',
    run: () => call(passwordReset, jsonEvent(PASSWORD_RESET, { email: tooLarge })),
  },
  {
    key: `POST ${PASSWORD_RESET} 415`,
    label: 'text body',
    run: () => call(passwordReset, textBody(PASSWORD_RESET, '{}')),
  },
  {
    key: `POST ${PASSWORD_RESET} 422`,
    label: 'not an email',
    run: () => call(passwordReset, jsonEvent(PASSWORD_RESET, { email: 'nope' })),
  },
  {
    key: `POST ${PASSWORD_RESET} 429`,
    label: 'past the per-email limit',
    run: () => {
      const email = uniqueEmail('resets')
      return coldCall(
        'password-reset',
        mailQueue(),
        () => resetEvent(email),
        config.PASSWORD_RESET_EMAIL_LIMIT + 1,
      )
    },
  },
  {
    key: `POST ${PASSWORD_RESET} 500`,
    label: 'broken configuration',
    run: () => coldCall('password-reset', brokenConfig, () => resetEvent()),
  },
  {
    key: `POST ${PASSWORD_RESET} 503`,
    label: 'no mail configured',
    run: () =>
      withoutRetryAfter(
        withDetail('Password reset by email is not configured on this server')(
          call(passwordReset, resetEvent()),
        ),
      ),
  },
  {
    key: `POST ${PASSWORD_RESET} 503`,
    label: 'the mail queue unreachable',
    run: async () =>
      withDetail('Service temporarily unavailable')(
        coldCall('password-reset', mailQueue(`http://127.0.0.1:${await freePort()}`), () => resetEvent()),
      ),
  },
  {
    key: `POST ${PASSWORD_RESET} 503`,
    label: 'database down',
    run: async () =>
      coldCall('password-reset', { ...(await databaseDown()), ...mailQueue() }, () => resetEvent()),
  },

  {
    key: `POST ${PASSWORD_RESET_CONFIRM} 204`,
    label: 'a live link’s token',
    run: async () =>
      call(
        passwordResetConfirm,
        confirmEvent({ token: await liveResetToken(), new_password: 'a new password' }),
      ),
  },
  {
    key: `POST ${PASSWORD_RESET_CONFIRM} 400`,
    label: 'an unknown token',
    run: () =>
      withDetail('Invalid or expired password reset token')(call(passwordResetConfirm, confirmEvent())),
  },
  {
    key: `POST ${PASSWORD_RESET_CONFIRM} 413`,
    label: 'body too large',
    run: () => call(passwordResetConfirm, confirmEvent({ token: 'x', new_password: tooLarge })),
  },
  {
    key: `POST ${PASSWORD_RESET_CONFIRM} 415`,
    label: 'text body',
    run: () => call(passwordResetConfirm, textBody(PASSWORD_RESET_CONFIRM, '{}')),
  },
  {
    key: `POST ${PASSWORD_RESET_CONFIRM} 422`,
    label: 'a new password too short',
    run: () => call(passwordResetConfirm, confirmEvent({ token: 'x', new_password: 'short' })),
  },
  {
    key: `POST ${PASSWORD_RESET_CONFIRM} 500`,
    label: 'broken configuration',
    run: () => coldCall('password-reset-confirm', brokenConfig, () => confirmEvent()),
  },
  {
    key: `POST ${PASSWORD_RESET_CONFIRM} 503`,
    label: 'database down',
    run: async () => coldCall('password-reset-confirm', await databaseDown(), () => confirmEvent()),
  },

  {
    key: `POST ${EMAIL_VERIFICATION} 202`,
    label: 'an unverified account’s email',
    run: async () => {
      const { email } = await freshSession()
      const before = invocations.length
      const reply = coldCall('email-verification', mailQueue(), () => verificationEvent(email))
      await reply
      expect(invocations.slice(before)).toHaveLength(1)
      return withDetail(EMAIL_VERIFICATION_ACCEPTED.detail)(reply)
    },
  },
  {
    key: `POST ${EMAIL_VERIFICATION} 202`,
    label: 'an unknown email',
    run: () =>
      withDetail(EMAIL_VERIFICATION_ACCEPTED.detail)(
        coldCall('email-verification', mailQueue(), () => verificationEvent(uniqueEmail('nobody'))),
      ),
  },
  {
    key: `POST ${EMAIL_VERIFICATION} 413`,
    label: 'body too large',
    run: () => call(emailVerification, jsonEvent(EMAIL_VERIFICATION, { email: tooLarge })),
  },
  {
    key: `POST ${EMAIL_VERIFICATION} 415`,
    label: 'text body',
    run: () => call(emailVerification, textBody(EMAIL_VERIFICATION, '{}')),
  },
  {
    key: `POST ${EMAIL_VERIFICATION} 422`,
    label: 'not an email',
    run: () => call(emailVerification, jsonEvent(EMAIL_VERIFICATION, { email: 'nope' })),
  },
  {
    key: `POST ${EMAIL_VERIFICATION} 429`,
    label: 'past the per-email limit',
    run: () => {
      const email = uniqueEmail('codes')
      return coldCall(
        'email-verification',
        mailQueue(),
        () => verificationEvent(email),
        config.PASSWORD_RESET_EMAIL_LIMIT + 1,
      )
    },
  },
  {
    key: `POST ${EMAIL_VERIFICATION} 500`,
    label: 'broken configuration',
    run: () => coldCall('email-verification', brokenConfig, () => verificationEvent()),
  },
  {
    key: `POST ${EMAIL_VERIFICATION} 503`,
    label: 'no mail configured',
    run: () => withoutRetryAfter(call(emailVerification, verificationEvent())),
  },
  {
    key: `POST ${EMAIL_VERIFICATION} 503`,
    label: 'database down',
    run: async () =>
      coldCall('email-verification', { ...(await databaseDown()), ...mailQueue() }, () =>
        verificationEvent(),
      ),
  },

  {
    key: `POST ${EMAIL_VERIFICATION_CONFIRM} 200`,
    label: 'a live code',
    run: async () => {
      const { id, email } = await freshSession()
      const code = await liveEmailCode(id, 'verify')
      const reply = await call(emailVerificationConfirm, verificationConfirmEvent({ email, code }))
      expect(json(reply)).toMatchObject({ email, email_verified: true })
      return reply
    },
  },
  {
    key: `POST ${EMAIL_VERIFICATION_CONFIRM} 400`,
    label: 'no pending code',
    run: () =>
      withDetail('Invalid or expired code')(call(emailVerificationConfirm, verificationConfirmEvent())),
  },
  {
    key: `POST ${EMAIL_VERIFICATION_CONFIRM} 413`,
    label: 'body too large',
    run: () =>
      call(emailVerificationConfirm, verificationConfirmEvent({ email: fixtures.email, code: tooLarge })),
  },
  {
    key: `POST ${EMAIL_VERIFICATION_CONFIRM} 415`,
    label: 'text body',
    run: () => call(emailVerificationConfirm, textBody(EMAIL_VERIFICATION_CONFIRM, '{}')),
  },
  {
    key: `POST ${EMAIL_VERIFICATION_CONFIRM} 422`,
    label: 'no code',
    run: () => call(emailVerificationConfirm, verificationConfirmEvent({ email: fixtures.email })),
  },
  {
    key: `POST ${EMAIL_VERIFICATION_CONFIRM} 500`,
    label: 'broken configuration',
    run: () => coldCall('email-verification-confirm', brokenConfig, () => verificationConfirmEvent()),
  },
  {
    key: `POST ${EMAIL_VERIFICATION_CONFIRM} 503`,
    label: 'database down',
    run: async () =>
      coldCall('email-verification-confirm', await databaseDown(), () => verificationConfirmEvent()),
  },

  {
    key: `POST ${EMAIL_CHANGE} 202`,
    label: 'the right password',
    run: async () => {
      const { accessToken } = await freshSession()
      return withDetail(EMAIL_CHANGE_ACCEPTED.detail)(
        coldCall('email-change', mailQueue(), () => emailChangeEvent(accessToken)),
      )
    },
  },
  {
    key: `POST ${EMAIL_CHANGE} 400`,
    label: 'a wrong password',
    run: async () => {
      const { accessToken } = await freshSession()
      return withDetail('Incorrect password')(
        coldCall('email-change', mailQueue(), () =>
          emailChangeEvent(accessToken, {
            new_email: uniqueEmail('moved'),
            current_password: 'wrong password',
          }),
        ),
      )
    },
  },
  {
    key: `POST ${EMAIL_CHANGE} 401`,
    label: 'no Authorization header',
    run: () =>
      call(emailChange, jsonEvent(EMAIL_CHANGE, { new_email: uniqueEmail(), current_password: PASSWORD })),
  },
  {
    key: `POST ${EMAIL_CHANGE} 413`,
    label: 'body too large',
    run: () =>
      call(
        emailChange,
        emailChangeEvent(fixtures.accessToken, { new_email: uniqueEmail(), current_password: tooLarge }),
      ),
  },
  {
    key: `POST ${EMAIL_CHANGE} 415`,
    label: 'text body',
    run: () =>
      call(
        emailChange,
        apiEvent('POST', EMAIL_CHANGE, '{}', {
          headers: { 'content-type': 'text/plain', ...withToken(fixtures.accessToken) },
        }),
      ),
  },
  {
    key: `POST ${EMAIL_CHANGE} 422`,
    label: 'not an email',
    run: () =>
      call(
        emailChange,
        emailChangeEvent(fixtures.accessToken, { new_email: 'nope', current_password: PASSWORD }),
      ),
  },
  {
    key: `POST ${EMAIL_CHANGE} 429`,
    label: 'locked out by failed logins',
    run: async () => {
      const { email, accessToken } = await freshSession()
      for (let attempt = 0; attempt < config.LOGIN_MAX_FAILURES; attempt++) {
        await call(login, jsonEvent(LOGIN, { email, password: 'wrong password' }))
      }
      return coldCall('email-change', mailQueue(), () => emailChangeEvent(accessToken))
    },
  },
  {
    key: `POST ${EMAIL_CHANGE} 500`,
    label: 'broken configuration',
    run: () => coldCall('email-change', brokenConfig, () => emailChangeEvent(fixtures.accessToken)),
  },
  {
    key: `POST ${EMAIL_CHANGE} 503`,
    label: 'no mail configured',
    run: () => withoutRetryAfter(call(emailChange, emailChangeEvent(fixtures.accessToken))),
  },
  {
    key: `POST ${EMAIL_CHANGE} 503`,
    label: 'database down',
    run: async () =>
      coldCall('email-change', { ...(await databaseDown()), ...mailQueue() }, () =>
        emailChangeEvent(fixtures.accessToken),
      ),
  },

  {
    key: `POST ${EMAIL_CHANGE_CONFIRM} 200`,
    label: 'a live code',
    run: async () => {
      const { id, accessToken } = await freshSession()
      const next = uniqueEmail('moved')
      const code = await liveEmailCode(id, 'change', next)
      const reply = await call(emailChangeConfirm, emailChangeConfirmEvent(accessToken, { code }))
      expect(json(reply)).toMatchObject({ email: next, email_verified: true })
      return reply
    },
  },
  {
    key: `POST ${EMAIL_CHANGE_CONFIRM} 400`,
    label: 'no pending code',
    run: () =>
      withDetail('Invalid or expired code')(
        call(emailChangeConfirm, emailChangeConfirmEvent(fixtures.accessToken)),
      ),
  },
  {
    key: `POST ${EMAIL_CHANGE_CONFIRM} 400`,
    label: 'the new address taken meanwhile',
    run: async () => {
      const { id, accessToken } = await freshSession()
      const code = await liveEmailCode(id, 'change', fixtures.email)
      return withDetail('User with this email already exists')(
        call(emailChangeConfirm, emailChangeConfirmEvent(accessToken, { code })),
      )
    },
  },
  {
    key: `POST ${EMAIL_CHANGE_CONFIRM} 401`,
    label: 'no Authorization header',
    run: () => call(emailChangeConfirm, jsonEvent(EMAIL_CHANGE_CONFIRM, { code: '123456' })),
  },
  {
    key: `POST ${EMAIL_CHANGE_CONFIRM} 413`,
    label: 'body too large',
    run: () => call(emailChangeConfirm, emailChangeConfirmEvent(fixtures.accessToken, { code: tooLarge })),
  },
  {
    key: `POST ${EMAIL_CHANGE_CONFIRM} 415`,
    label: 'text body',
    run: () =>
      call(
        emailChangeConfirm,
        apiEvent('POST', EMAIL_CHANGE_CONFIRM, '{}', {
          headers: { 'content-type': 'text/plain', ...withToken(fixtures.accessToken) },
        }),
      ),
  },
  {
    key: `POST ${EMAIL_CHANGE_CONFIRM} 422`,
    label: 'no code',
    run: () => call(emailChangeConfirm, emailChangeConfirmEvent(fixtures.accessToken, {})),
  },
  {
    key: `POST ${EMAIL_CHANGE_CONFIRM} 500`,
    label: 'broken configuration',
    run: () =>
      coldCall('email-change-confirm', brokenConfig, () => emailChangeConfirmEvent(fixtures.accessToken)),
  },
  {
    key: `POST ${EMAIL_CHANGE_CONFIRM} 503`,
    label: 'database down',
    run: async () =>
      coldCall('email-change-confirm', await databaseDown(), () =>
        emailChangeConfirmEvent(fixtures.accessToken),
      ),
  },

  { key: `GET ${HEALTH} 200`, label: 'database up', run: () => call(health, apiEvent('GET', HEALTH)) },
  {
    key: `GET ${HEALTH} 500`,
    label: 'broken configuration',
    run: () => coldCall('health', brokenConfig, () => apiEvent('GET', HEALTH)),
  },
  {
    key: `GET ${HEALTH} 503`,
    label: 'database down',
    run: async () => coldCall('health', await databaseDown(), () => apiEvent('GET', HEALTH)),
  },

  {
    key: `GET ${JWKS_PATH} 200`,
    label: 'the published keys',
    run: () => call(jwks, apiEvent('GET', JWKS_PATH)),
  },
  {
    key: `GET ${JWKS_PATH} 500`,
    label: 'broken configuration',
    run: () => coldCall('jwks', brokenConfig, () => apiEvent('GET', JWKS_PATH)),
  },
  {
    key: `GET ${JWKS_PATH} 503`,
    label: 'key set not created yet',
    run: () => keysNotCreated('jwks', () => apiEvent('GET', JWKS_PATH)),
  },
  {
    key: `GET ${DISCOVERY_PATH} 200`,
    label: 'the discovery document',
    run: () => call(openidConfiguration, apiEvent('GET', DISCOVERY_PATH)),
  },
  {
    key: `GET ${DISCOVERY_PATH} 500`,
    label: 'an issuer that is no URL',
    run: () =>
      coldCall('openid-configuration', { JWT_ISSUER: 'papa-auth' }, () => apiEvent('GET', DISCOVERY_PATH)),
  },

  {
    key: `GET ${CLAIMS} 200`,
    label: 'a token the gateway verified',
    run: () => throughGateway(fixtures.accessToken),
  },
  { key: `GET ${CLAIMS} 401`, label: 'no token (the gateway answers)', run: () => throughGateway(undefined) },
  {
    key: `GET ${CLAIMS} 401`,
    label: 'a forged token (the gateway answers)',
    run: () => throughGateway('a.b.c'),
  },
  ...adminScenarios,
]

/** `GET /auth/claims` as API Gateway serves it: its JWT authorizer (as the local server emulates it), then the function. */
async function throughGateway(token: string | undefined): Promise<Reply> {
  const { JWT_ISSUER: issuer, JWT_AUDIENCE: audience } = loadSettings()
  const verdict = await authorizeJwt(token === undefined ? undefined : `Bearer ${token}`, {
    issuer,
    audience,
    keys: async () => publishedKeys(testSigningKeys()),
  })
  if (!verdict.allowed)
    return {
      status: verdict.statusCode,
      headers: verdict.headers,
      raw: Buffer.from(verdict.body),
      gateway: true,
    }
  const event = apiEvent('GET', CLAIMS)
  ;(event.requestContext as { authorizer?: unknown }).authorizer = verdict.authorizer
  return call(claims, event)
}

describe('every documented response is what the handler answers', () => {
  const check = async ({ key, run }: Scenario) => {
    const reply = await run()
    expect(String(reply.status)).toBe(key.split(' ')[2])
    expectMatchesDocumentation(documentedResponse(key), reply)
  }
  it.each(scenarios)('$key ($label)', check)

  it('answers 404 and 405 (the $default route) as the shared responses describe', async () => {
    const missing = await call(notFound, apiEvent('GET', '/api/v1/nope'))
    expect(missing.status).toBe(404)
    expectMatchesDocumentation(document.components.responses.NotFound as OpenApiObject, missing)

    const wrongMethod = await call(notFound, apiEvent('DELETE', ME))
    expect(wrongMethod.status).toBe(405)
    expectMatchesDocumentation(document.components.responses.MethodNotAllowed as OpenApiObject, wrongMethod)
  })

  it('names the type to send in every 415: the one its operation documents for the body, as its example says', async () => {
    const refused = scenarios.filter(({ key }) => key.endsWith(' 415'))
    const withBody = Object.values(document.paths).flatMap((item) =>
      Object.values(item).filter((operation) => operation.requestBody),
    )
    expect(refused).toHaveLength(withBody.length)
    for (const { key, run } of refused) {
      const [method = '', path = ''] = key.split(' ')
      const { content } = operationOf(document, path, method.toLowerCase()).requestBody as {
        content: Record<string, unknown>
      }
      const expected = { detail: `Unsupported Media Type: send ${Object.keys(content)[0]}` }
      expect(json(await run()), key).toEqual(expected)
      const documented = documentedResponse(key).content as Record<string, { example?: unknown }>
      expect(documented['application/json']?.example, key).toEqual(expected)
    }
  })

  it('documents no response that a scenario above does not produce', () => {
    const documented = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.entries(item).flatMap(([method, operation]) =>
        Object.keys(operation.responses as object).map(
          (status) => `${method.toUpperCase()} ${path} ${status}`,
        ),
      ),
    )
    expect([...new Set(scenarios.map((scenario) => scenario.key))].sort()).toEqual(documented.sort())
  })
})

/** What Swagger UI fills in for an operation's body: the JSON body's first example, or each form field's example. */
function filledIn(operation: OpenApiObject): { name: RequestBodyName; mediaType: string; values: unknown[] } {
  const [mediaType = '', media = {}] =
    Object.entries((operation.requestBody as { content: Record<string, OpenApiObject> }).content)[0] ?? []
  const name = String((media.schema as OpenApiObject).$ref)
    .split('/')
    .pop() as RequestBodyName
  if (mediaType === 'application/x-www-form-urlencoded') {
    const properties = document.components.schemas[name]?.properties as Record<string, OpenApiObject>
    const fields = Object.entries(properties).map(([field, { example }]) => [field, example])
    return { name, mediaType, values: [Object.fromEntries(fields)] }
  }
  const named = Object.values((media.examples ?? {}) as Record<string, { value: unknown }>)
  return {
    name,
    mediaType,
    values: [...(media.example === undefined ? [] : [media.example]), ...named.map(({ value }) => value)],
  }
}

/** The examples of the document's request bodies that the schema their function validates with refuses. */
function refusedRequestExamples(doc: OpenApiDocument): string[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([, operation]) => operation.requestBody)
      .flatMap(([method, operation]) => {
        const { name, values } = filledIn(operation)
        const where = `${method.toUpperCase()} ${path}`
        if (values.length === 0) return [`${where}: no example`]
        return values.flatMap((value) => {
          const parsed = v.safeParse(REQUEST_BODIES[name].schema, value)
          return parsed.success ? [] : [`${where}: ${parsed.issues.map((issue) => issue.message).join('; ')}`]
        })
      }),
  )
}

const operationsWithBodies = routes
  .filter((route) => document.paths[route.path]?.[route.method.toLowerCase()]?.requestBody)
  .map((route) => [`${route.method} ${route.path}`, route] as const)

describe('Swagger UI’s Try it out on every request body', () => {
  it('fills in every body with input its function accepts (a valid email, a password off the blocklist), by a check that does refuse', () => {
    expect(operationsWithBodies.length).toBeGreaterThanOrEqual(16)
    expect(refusedRequestExamples(document)).toEqual([])
    const broken = structuredClone(document)
    const register = operationOf(broken, REGISTER, 'post').requestBody as {
      content: Record<string, OpenApiObject>
    }
    Object.assign(register.content['application/json'] ?? {}, {
      example: { email: 'alice@example.com', password: 'password123' },
    })
    expect(refusedRequestExamples(broken)).toEqual([
      `POST ${REGISTER}: This password is on a list of common and breached passwords, which attackers try first; choose another`,
    ])
  })

  it.each(operationsWithBodies)(
    '%s: Execute after Authorize, with what the page fills in, is never a 422',
    async (_name, route) => {
      const operation = operationOf(document, route.path, route.method.toLowerCase())
      const { mediaType, values } = filledIn(operation)
      const [body] = values
      // Authorized as a user of its own (a superuser on the admin routes), whose password the examples do not know:
      // a check of the current password answers its 400; an admin route acts on the id the operator typed.
      const session = await freshSession()
      const token = route.callers === 'superuser' ? admin.token : session.accessToken
      const path = route.path.replace('{id}', String(session.id))
      const raw =
        mediaType === 'application/json'
          ? JSON.stringify(body)
          : new URLSearchParams(Object.entries(body as Record<string, string>)).toString()
      const reply = await coldCall(route.function as keyof typeof freshHandlers, mailQueue(), () =>
        toApiGatewayEvent(
          {
            method: route.method,
            url: path,
            headers: { 'content-type': mediaType, authorization: `Bearer ${token}` },
            body: raw,
          },
          `${route.method} ${route.path}`,
        ),
      )
      const documented = Object.keys(operation.responses as object)
      expect(reply.status, reply.raw.toString('utf8')).not.toBe(422)
      expect(documented, `${reply.status} ${reply.raw.toString('utf8')}`).toContain(String(reply.status))
    },
  )
})

describe('Swagger UI’s Try it out on the admin operations', () => {
  const adminRoutes = routes.filter((route) => route.callers === 'superuser')
  it.each(adminRoutes.map((route) => [`${route.method} ${route.path}`, route] as const))(
    '%s: Execute with what the page fills in is accepted',
    async (_name, route) => {
      const operation = operationOf(document, route.path, route.method.toLowerCase())
      // Where the page fills in no id (the routes that act on an account), the operator types one.
      const typed = (await freshSession()).id
      let id: number | string = typed
      const query = new URLSearchParams()
      for (const parameter of (operation.parameters ?? []) as OpenApiObject[]) {
        const filled = parameter.example ?? (parameter.schema as OpenApiObject).default
        if (parameter.in === 'path') id = filled === undefined ? typed : String(filled)
        else if (filled !== undefined) query.set(String(parameter.name), String(filled))
      }
      // The page fills in the body's first example.
      const media = (operation.requestBody as { content: Record<string, OpenApiObject> } | undefined)
        ?.content['application/json']
      const body =
        media?.example ??
        Object.values((media?.examples ?? {}) as Record<string, { value: unknown }>)[0]?.value
      const name = route.function as AdminFunction
      const event = () => adminEvent(route.method, route.path, { id, query: query.toString(), body })
      const reply =
        name === 'admin-password-reset'
          ? await coldCall(name, mailQueue(), event)
          : await call(adminHandlers[name], event())
      expect([200, 202, 204, 404], `${reply.status} ${reply.raw.toString('utf8')}`).toContain(reply.status)
    },
  )
})

afterAll(() => disposeAll())
