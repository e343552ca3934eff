import { createError } from '@middy/util'
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest'
import * as domainErrors from '#shared/domain/errors'
import {
  AccountDeletionLimitError,
  ConflictingAdminError,
  DatabaseUnavailableError,
  DomainError,
  EmailCodeLimitError,
  EmailNotVerifiedError,
  EmailTakenError,
  IncorrectPasswordError,
  InsufficientPrivilegesError,
  InvalidCredentialsError,
  InvalidDeletionTokenError,
  InvalidEmailCodeError,
  InvalidRequestError,
  InvalidResetTokenError,
  InvalidTokenError,
  LastSuperuserError,
  MailNotConfiguredError,
  MailQueueUnavailableError,
  NotAuthenticatedError,
  PasswordResetLimitError,
  RateLimitError,
  RegistrationLimitError,
  SessionNotFoundError,
  SigningKeysUnavailableError,
  StaleAuthenticationError,
  TooManyAttemptsError,
  UnsupportedGrantTypeError,
  UserInactiveError,
  UserNotFoundError,
  UsernameTakenError,
  ValidationError,
  type ValidationIssue,
} from '#shared/domain/errors'
import {
  ERROR_TABLE,
  type ErrorCode,
  errorResult,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
} from '#shared/http/errors'
import type { HttpResult } from '#shared/http/responses'

const REQUEST_ID = 'request-1'
const SQL = 'select * from users where email = $1'
const FAKE_HASH = '$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW'

const BEARER = { 'www-authenticate': 'Bearer' }
const RETRY_IN_5 = { 'retry-after': '5' }
const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' }
const UNAVAILABLE: HttpResult = {
  statusCode: 503,
  body: { detail: 'Service temporarily unavailable' },
  headers: RETRY_IN_5,
}
const ISSUES: ValidationIssue[] = [
  { loc: ['body', 'email'], msg: 'value is not a valid email address', type: 'value_error' },
  { loc: ['body', 'password'], msg: 'Field required', type: 'missing' },
]

const detail = (statusCode: number, body: unknown, headers?: Record<string, string>): HttpResult => ({
  statusCode,
  body: { detail: body },
  ...(headers && { headers }),
})
const oauth = (error: string, description: string): HttpResult => ({
  statusCode: 400,
  body: { error, error_description: description },
  headers: NO_STORE,
})

/** middy's `timeoutEarly` rejection, as `@middy/core` builds it. */
const timeoutError = () =>
  Object.assign(
    new Error('[AbortError]: The operation was aborted.', { cause: { package: '@middy/core' } }),
    {
      name: 'TimeoutError',
    },
  )

interface Case {
  code: ErrorCode
  error: Error
  detail: HttpResult
  /** The token endpoint's answer; absent where it answers as every other endpoint. */
  oauth?: HttpResult
  /** The warning logged, if any. */
  warn?: string
}

/** One error of every code the table knows, with the whole answer the contract gives it. */
const CASES: Case[] = [
  {
    code: 'EMAIL_TAKEN',
    error: new EmailTakenError({ cause: new Error(`duplicate key value violates users_email_key: ${SQL}`) }),
    detail: detail(400, 'User with this email already exists'),
  },
  {
    code: 'USERNAME_TAKEN',
    error: new UsernameTakenError(),
    detail: detail(400, 'User with this username already exists'),
  },
  {
    code: 'INVALID_CREDENTIALS',
    error: new InvalidCredentialsError(),
    detail: detail(401, 'Incorrect email or password', BEARER),
    oauth: oauth('invalid_grant', 'Incorrect email or password'),
  },
  {
    code: 'NOT_AUTHENTICATED',
    error: new NotAuthenticatedError(),
    detail: detail(401, 'Not authenticated', BEARER),
  },
  {
    code: 'INVALID_TOKEN',
    error: new InvalidTokenError(),
    detail: detail(401, 'Could not validate credentials', {
      'www-authenticate': 'Bearer error="invalid_token"',
    }),
    oauth: oauth('invalid_grant', 'The refresh token is invalid, expired or revoked'),
  },
  {
    code: 'INSUFFICIENT_PRIVILEGES',
    error: new InsufficientPrivilegesError(),
    detail: detail(403, "The user doesn't have enough privileges"),
  },
  {
    code: 'STALE_AUTHENTICATION',
    error: new StaleAuthenticationError(600),
    detail: detail(401, 'A more recent login is required', {
      'www-authenticate':
        'Bearer error="insufficient_user_authentication", error_description="A more recent login is required", max_age="600"',
    }),
  },
  {
    code: 'USER_NOT_FOUND',
    error: new UserNotFoundError(),
    detail: detail(404, 'User not found'),
  },
  {
    code: 'LAST_SUPERUSER',
    error: new LastSuperuserError(),
    detail: detail(409, 'The service must keep at least one active superuser'),
  },
  {
    code: 'USER_INACTIVE',
    error: new UserInactiveError(),
    detail: detail(409, 'The user is inactive'),
  },
  {
    code: 'TOO_MANY_ATTEMPTS',
    error: new TooManyAttemptsError(42),
    detail: detail(429, 'Too many failed login attempts', { 'retry-after': '42' }),
  },
  {
    code: 'REGISTRATION_LIMIT',
    error: new RegistrationLimitError(3600),
    detail: detail(429, 'Too many registrations from this address', { 'retry-after': '3600' }),
  },
  {
    code: 'DATABASE_UNAVAILABLE',
    error: new DatabaseUnavailableError({ cause: new Error(`connect ECONNREFUSED while running ${SQL}`) }),
    detail: UNAVAILABLE,
    warn: 'database unavailable',
  },
  {
    code: 'SIGNING_KEYS_UNAVAILABLE',
    error: new SigningKeysUnavailableError(),
    detail: UNAVAILABLE,
    warn: 'signing keys not created yet',
  },
  {
    code: 'VALIDATION_FAILED',
    error: new ValidationError(ISSUES),
    detail: detail(422, ISSUES),
    oauth: oauth('invalid_request', 'email: value is not a valid email address'),
  },
  {
    code: 'INVALID_REQUEST',
    error: new InvalidRequestError('username is required'),
    detail: detail(400, 'username is required'),
    oauth: oauth('invalid_request', 'username is required'),
  },
  {
    code: 'UNSUPPORTED_GRANT_TYPE',
    error: new UnsupportedGrantTypeError(),
    detail: detail(400, 'The grant type is not supported'),
    oauth: oauth('unsupported_grant_type', 'The grant type is not supported'),
  },
  {
    code: 'INCORRECT_PASSWORD',
    error: new IncorrectPasswordError(),
    detail: detail(400, 'Incorrect password'),
  },
  {
    code: 'SESSION_NOT_FOUND',
    error: new SessionNotFoundError(),
    detail: detail(404, 'Not Found'),
  },
  {
    code: 'PASSWORD_RESET_LIMIT',
    error: new PasswordResetLimitError(5),
    detail: detail(429, 'Too many password reset requests', RETRY_IN_5),
  },
  {
    code: 'INVALID_RESET_TOKEN',
    error: new InvalidResetTokenError(),
    detail: detail(400, 'Invalid or expired password reset token'),
  },
  {
    code: 'ACCOUNT_DELETION_LIMIT',
    error: new AccountDeletionLimitError(5),
    detail: detail(429, 'Too many account deletion requests', RETRY_IN_5),
  },
  {
    code: 'INVALID_DELETION_TOKEN',
    error: new InvalidDeletionTokenError(),
    detail: detail(400, 'Invalid or expired account deletion token'),
  },
  {
    code: 'EMAIL_CODE_LIMIT',
    error: new EmailCodeLimitError(5),
    detail: detail(429, 'Too many code requests', RETRY_IN_5),
  },
  {
    code: 'INVALID_EMAIL_CODE',
    error: new InvalidEmailCodeError(),
    detail: detail(400, 'Invalid or expired code'),
  },
  {
    code: 'EMAIL_NOT_VERIFIED',
    error: new EmailNotVerifiedError(),
    detail: detail(403, 'Email not verified'),
    oauth: oauth('invalid_grant', 'Email not verified'),
  },
  {
    code: 'MAIL_NOT_CONFIGURED',
    error: new MailNotConfiguredError(),
    detail: detail(503, 'Password reset by email is not configured on this server'),
    warn: 'mail requested, but no mail is configured',
  },
  {
    code: 'MAIL_QUEUE_UNAVAILABLE',
    error: new MailQueueUnavailableError(),
    detail: UNAVAILABLE,
    warn: 'mail queue unavailable',
  },
  {
    code: 'CONFLICTING_ADMIN',
    error: new ConflictingAdminError(),
    detail: detail(409, new ConflictingAdminError().message),
  },
  {
    code: 'PAYLOAD_TOO_LARGE',
    error: new PayloadTooLargeError(),
    detail: detail(413, 'Request body too large'),
  },
  {
    code: 'UNSUPPORTED_MEDIA_TYPE',
    error: new UnsupportedMediaTypeError('application/json'),
    detail: detail(415, 'Unsupported Media Type: send application/json'),
  },
  {
    code: 'MALFORMED_BODY',
    error: createError(422, 'Invalid or malformed JSON was provided', {
      cause: { package: '@middy/http-json-body-parser', data: `{"password": "${FAKE_HASH}"` },
    }),
    detail: detail(422, [{ loc: ['body'], msg: 'JSON decode error', type: 'json_invalid' }]),
    oauth: oauth('invalid_request', 'The request body could not be parsed'),
  },
  { code: 'TIMEOUT', error: timeoutError(), detail: UNAVAILABLE, warn: 'request timed out' },
]

let stderr: MockInstance<typeof process.stderr.write>

/** The JSON lines written to stderr, where the logger sends warnings and errors. */
const logLines = () => stderr.mock.calls.map(([chunk]) => JSON.parse(String(chunk)) as unknown)
/** The one line the logger writes: these fields and nothing else (no message, no cause, no stack). */
const logLine = (level: string, message: string, error: string) => ({
  level,
  message,
  requestId: REQUEST_ID,
  error,
  time: expect.any(String),
})
const logText = () => stderr.mock.calls.map(([chunk]) => String(chunk)).join('')

beforeEach(() => {
  stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
})
afterEach(() => {
  vi.restoreAllMocks()
})

describe('errorResult', () => {
  it.each(CASES)('answers $code with its status, body and headers', ({ error, detail, warn }) => {
    expect(errorResult(error, 'detail', REQUEST_ID)).toEqual(detail)
    expect(logLines()).toEqual(warn ? [logLine('warn', warn, error.name)] : [])
  })

  it.each(CASES)('answers $code on the token endpoint as RFC 6749 §5.2 says', ({ error, detail, oauth }) => {
    expect(errorResult(error, 'oauth', REQUEST_ID)).toEqual(oauth ?? detail)
  })

  it.each([
    {
      issues: [{ loc: ['body', 'grant_type'], msg: 'must not be repeated', type: 'string_type' }],
      description: 'grant_type: must not be repeated',
    },
    {
      issues: [{ loc: ['body'], msg: 'Input should be a valid dictionary', type: 'dict_type' }],
      description: 'body: Input should be a valid dictionary',
    },
    { issues: [], description: 'Invalid input' },
  ])(
    'describes invalid token-endpoint input by its first issue: "$description"',
    ({ issues, description }) => {
      expect(errorResult(new ValidationError(issues), 'oauth')).toEqual(oauth('invalid_request', description))
    },
  )

  it('answers a parser’s own 415, which names no type, as 415 all the same', () => {
    const parsers = createError(415, 'Unsupported Media Type', {
      cause: { package: '@middy/http-json-body-parser', data: 'text/plain' },
    })
    expect(errorResult(parsers, 'detail', REQUEST_ID)).toEqual(detail(415, 'Unsupported Media Type'))
  })

  describe('for an unexpected error', () => {
    const leaky = `${SQL} -- password_hash = '${FAKE_HASH}'`

    it.each([
      { thrown: new Error(leaky), logged: 'Error' },
      { thrown: new TypeError(leaky), logged: 'TypeError' },
      { thrown: Object.assign(new Error(leaky), { code: '23505', statusCode: 500 }), logged: 'Error' },
      { thrown: createError(500, leaky), logged: 'InternalServerError' },
      { thrown: leaky, logged: 'string' },
    ])('answers a bare 500 and logs only the class ($logged) once', ({ thrown, logged }) => {
      const result = errorResult(thrown, 'oauth', REQUEST_ID)

      expect(result).toEqual({ statusCode: 500, body: { detail: 'Internal Server Error' } })
      expect(logLines()).toEqual([logLine('error', 'unhandled error', logged)])
      for (const secret of ['select * from users', FAKE_HASH]) {
        expect(JSON.stringify(result)).not.toContain(secret)
        expect(logText()).not.toContain(secret)
      }
    })
  })
})

describe('ERROR_TABLE', () => {
  it('has a row for exactly the codes of the errors above', () => {
    expect(CASES.map(({ code }) => code).sort()).toEqual(Object.keys(ERROR_TABLE).sort())
  })

  it('is tested with an error of every concrete domain error class, each carrying the code of its row', () => {
    const classes = Object.values(domainErrors).filter((value) => value.prototype instanceof DomainError)
    const untested = classes.filter((type) => !CASES.some(({ error }) => error.constructor === type))
    expect(untested).toEqual([RateLimitError])
    const domainCases = CASES.filter(({ error }) => error instanceof DomainError)
    expect(domainCases.map(({ error }) => (error as DomainError).code)).toEqual(
      domainCases.map(({ code }) => code),
    )
  })
})
