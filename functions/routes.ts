/**
 * The one table of what runs: every Lambda function with its sizing and how it is invoked, and the HTTP routes that
 * reach them, each with who may call it. The stack, the local server and the OpenAPI document all read it, so they
 * cannot disagree. Where everything else lives: docs/architecture.md.
 */
import type { Callers } from '#shared/http/authentication'
import { DISCOVERY_PATH, JWKS_PATH } from '#shared/http/discovery'
import { swaggerUiPaths } from '#shared/http/swagger-ui'
import { requestBudgetMs } from '#shared/platform/budget'
import { INTEGER_SETTINGS } from '#shared/platform/settings'

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

export interface LambdaSpec {
  /** Memory buys CPU as well on Lambda (linear; one full vCPU at 1769 MB). */
  readonly memoryMb: number
  readonly timeoutSeconds: number
  /**
   * Who calls it: API Gateway, the deploy itself (before the API functions change), an operator, a schedule, or
   * Secrets Manager's rotation of a secret, or another function's asynchronous invocation (the mail sender).
   */
  readonly invokedBy: 'api' | 'deploy' | 'operator' | 'schedule' | 'rotation' | 'async'
  /**
   * The secrets an API function reads, and so the only ones the stack lets it read: the database, the private signing
   * keys (only the functions that sign), the published keys (those that verify). The others bind their own.
   */
  readonly reads?: readonly ('database' | 'signing-keys' | 'public-keys')[]
  /** Queues mail: may invoke the mail sender (`send-mail`), and only that, asynchronously. */
  readonly queuesMail?: boolean
}

// bcrypt at cost 12 is CPU-bound for ~200 ms a request: a full vCPU. The others verify a token or wait on the
// database.
const BCRYPT_MEMORY_MB = 1769
const LIGHT_MEMORY_MB = 512
const DOCS_MEMORY_MB = 256
/**
 * Every wait of a request, each at its longest, ends within it (`requestBudgetMs`: secrets, a waking compute, one
 * statement to its server-side timeout, CPU), so a function answers, a 503 at worst, before Lambda ends it; API
 * Gateway waits 30 s.
 */
const API_TIMEOUT_SECONDS = Math.ceil(
  requestBudgetMs({
    DATABASE_CONNECT_TIMEOUT_MS: INTEGER_SETTINGS.DATABASE_CONNECT_TIMEOUT_MS.default,
    DATABASE_QUERY_TIMEOUT_MS: INTEGER_SETTINGS.DATABASE_QUERY_TIMEOUT_MS.default,
  }) / 1000,
)

const apiFunction = (memoryMb: number, reads: LambdaSpec['reads'] = [], queuesMail = false): LambdaSpec => ({
  memoryMb,
  timeoutSeconds: API_TIMEOUT_SECONDS,
  invokedBy: 'api',
  reads,
  ...(queuesMail ? { queuesMail } : {}),
})
const QUEUES_MAIL = true
const VERIFIES = ['database', 'public-keys'] as const
const SIGNS = ['database', 'public-keys', 'signing-keys'] as const

/** Every function, by the name of its entry file under `functions/` (also its logical name in the stack). */
export const lambdas = {
  /** With `EMAIL_VERIFICATION=required`, queues the first code's mail too. */
  register: apiFunction(BCRYPT_MEMORY_MB, VERIFIES, QUEUES_MAIL),
  login: apiFunction(BCRYPT_MEMORY_MB, SIGNS),
  token: apiFunction(BCRYPT_MEMORY_MB, SIGNS),
  refresh: apiFunction(LIGHT_MEMORY_MB, SIGNS),
  logout: apiFunction(LIGHT_MEMORY_MB, VERIFIES),
  me: apiFunction(LIGHT_MEMORY_MB, VERIFIES),
  /** The user's live sessions, and ending one or all of them. */
  'list-sessions': apiFunction(LIGHT_MEMORY_MB, VERIFIES),
  'end-one-session': apiFunction(LIGHT_MEMORY_MB, VERIFIES),
  'end-all-sessions': apiFunction(LIGHT_MEMORY_MB, VERIFIES),
  /** The user's copy of their data: one read-only statement, an answer of at most a few MB. */
  'export-account': apiFunction(LIGHT_MEMORY_MB, VERIFIES),
  /** Checks the current password and hashes the new one: two bcrypt runs. */
  'change-password': apiFunction(BCRYPT_MEMORY_MB, VERIFIES, QUEUES_MAIL),
  /** Counts the request and queues the mail job: the same work for any email, and no bcrypt. */
  'password-reset': apiFunction(LIGHT_MEMORY_MB, VERIFIES, QUEUES_MAIL),
  /** Hashes the new password once. */
  'password-reset-confirm': apiFunction(BCRYPT_MEMORY_MB, VERIFIES, QUEUES_MAIL),
  /** Counts the request and queues the code's mail job: the same work for any email, and no bcrypt. */
  'email-verification': apiFunction(LIGHT_MEMORY_MB, VERIFIES, QUEUES_MAIL),
  /** One statement: the code checked (a try counted) and the address marked verified. */
  'email-verification-confirm': apiFunction(LIGHT_MEMORY_MB, VERIFIES),
  /** Checks the current password (one bcrypt run), then queues the code to the new address. */
  'email-change': apiFunction(BCRYPT_MEMORY_MB, VERIFIES, QUEUES_MAIL),
  /** One statement: the code checked, the account moved, other sessions ended; the old address's notice queued. */
  'email-change-confirm': apiFunction(LIGHT_MEMORY_MB, VERIFIES, QUEUES_MAIL),
  /** Checks the current password (one bcrypt run), then the one erasure; queues the notice. */
  'delete-account': apiFunction(BCRYPT_MEMORY_MB, VERIFIES, QUEUES_MAIL),
  /** Counts the request and queues the link's mail job: the same work for any email, and no bcrypt. */
  'account-deletion': apiFunction(LIGHT_MEMORY_MB, VERIFIES, QUEUES_MAIL),
  /** One statement: the link checked under the account's lock, then the erasure; queues the notice. */
  'account-deletion-confirm': apiFunction(LIGHT_MEMORY_MB, VERIFIES, QUEUES_MAIL),
  /** A student's study preferences: one statement each, run as the user behind row-level security. */
  'get-preferences': apiFunction(LIGHT_MEMORY_MB, VERIFIES),
  'put-preferences': apiFunction(LIGHT_MEMORY_MB, VERIFIES),
  health: apiFunction(LIGHT_MEMORY_MB, VERIFIES),
  /** The admin API: superusers find and act on accounts (one statement each, audited). */
  'admin-list-users': apiFunction(LIGHT_MEMORY_MB, VERIFIES),
  'admin-get-user': apiFunction(LIGHT_MEMORY_MB, VERIFIES),
  'admin-update-user': apiFunction(LIGHT_MEMORY_MB, VERIFIES),
  'admin-delete-user': apiFunction(LIGHT_MEMORY_MB, VERIFIES, QUEUES_MAIL),
  'admin-end-sessions': apiFunction(LIGHT_MEMORY_MB, VERIFIES),
  'admin-password-reset': apiFunction(LIGHT_MEMORY_MB, VERIFIES, QUEUES_MAIL),
  /** The sample route behind API Gateway's JWT authorizer: it only echoes the claims the gateway verified. */
  claims: apiFunction(DOCS_MEMORY_MB),
  openapi: apiFunction(DOCS_MEMORY_MB),
  docs: apiFunction(DOCS_MEMORY_MB),
  /** The published keys and the discovery document, at the issuer's URL: no database, no private key. */
  jwks: apiFunction(LIGHT_MEMORY_MB, ['public-keys']),
  'openid-configuration': apiFunction(LIGHT_MEMORY_MB),
  /** API Gateway's `$default` route: 404, or 405 with `Allow` when only the method is wrong; 204 to a preflight. */
  'not-found': apiFunction(256),
  /** Applies the committed migrations; waits for a concurrent run's advisory lock, hence the long timeout. */
  migrate: { memoryMb: 512, timeoutSeconds: 300, invokedBy: 'deploy' },
  /** Deletes expired tokens and sessions, passed windows and old audit events, in batches, every 15 minutes (context `cleanupIntervalMinutes`). */
  cleanup: { memoryMb: 512, timeoutSeconds: 120, invokedBy: 'schedule' },
  /**
   * Sends one mail job's mail (SES in AWS, SMTP locally), invoked asynchronously by the functions that queue mail:
   * Lambda retries a failed send twice, then hands the event to the failure destination.
   */
  'send-mail': { memoryMb: 256, timeoutSeconds: 30, invokedBy: 'async' },
  /** Creates the admin account; hashes one password. */
  'seed-admin': { memoryMb: BCRYPT_MEMORY_MB, timeoutSeconds: 30, invokedBy: 'operator' },
  /** Carries the FastAPI backend's users over, once (docs/deploying.md); sized like migrate, whose work it includes. */
  cutover: { memoryMb: 512, timeoutSeconds: 300, invokedBy: 'operator' },
  /**
   * Secrets Manager's rotation function for the signing keys (every `signingKeyRotationDays`, or on demand): makes one
   * RSA key, publishes it, promotes the next; a few seconds at most.
   */
  'rotate-signing-keys': { memoryMb: 256, timeoutSeconds: 30, invokedBy: 'rotation' },
} as const satisfies Record<string, LambdaSpec>

export type FunctionName = keyof typeof lambdas

export interface Route {
  readonly method: HttpMethod
  /**
   * The path, exact or with `{name}` segments, each matching one non-empty segment as API Gateway's HTTP API does;
   * the function reads the value as `ParsedEvent.pathParameters.name`.
   */
  readonly path: string
  readonly function: FunctionName
  /** A documentation route (OpenAPI, Swagger UI): deployed only when the `docs` context is on; always served locally. */
  readonly docs?: boolean
  /** Who may call it (`Callers`): the HTTP layer enforces it, the stack and the OpenAPI document read it. */
  readonly callers: Callers
}

export const API_BASE_PATH = '/api/v1'
/** The OpenAPI document, generated from the same valibot schemas the functions validate with. */
export const OPENAPI_PATH = `${API_BASE_PATH}/openapi.json`
/** Swagger UI; outside the API's base path, as the old backend's `/docs` was. */
export const DOCS_PAGE_PATH = '/docs'

/** A route whose function and callers stay literal, so each function's declared callers are known to the type checker. */
interface DeclaredRoute<F extends FunctionName, C extends Callers> extends Route {
  readonly function: F
  readonly callers: C
}
const route = <const F extends FunctionName, const C extends Callers>(
  method: HttpMethod,
  path: string,
  fn: F,
  callers: C,
  docs?: true,
): DeclaredRoute<F, C> => ({ method, path, function: fn, callers, ...(docs ? { docs } : {}) })
/** An API route, under the base path. */
const api = <const F extends FunctionName, const C extends Callers>(
  method: HttpMethod,
  path: string,
  fn: F,
  callers: C,
): DeclaredRoute<F, C> => route(method, `${API_BASE_PATH}${path}`, fn, callers)

const declared = [
  api('POST', '/auth/register', 'register', 'anyone'),
  api('POST', '/auth/login', 'login', 'anyone'),
  api('POST', '/auth/token', 'token', 'anyone'),
  api('POST', '/auth/refresh', 'refresh', 'anyone'),
  api('POST', '/auth/logout', 'logout', 'anyone'),
  api('POST', '/auth/password-reset', 'password-reset', 'anyone'),
  api('POST', '/auth/password-reset/confirm', 'password-reset-confirm', 'anyone'),
  api('POST', '/auth/email-verification', 'email-verification', 'anyone'),
  api('POST', '/auth/email-verification/confirm', 'email-verification-confirm', 'anyone'),
  api('POST', '/users/me/email', 'email-change', 'session'),
  api('POST', '/users/me/email/confirm', 'email-change-confirm', 'session'),
  api('POST', '/auth/account-deletion', 'account-deletion', 'anyone'),
  api('POST', '/auth/account-deletion/confirm', 'account-deletion-confirm', 'anyone'),
  api('GET', '/users/me', 'me', 'session'),
  api('DELETE', '/users/me', 'delete-account', 'session'),
  api('POST', '/users/me/password', 'change-password', 'session'),
  api('GET', '/users/me/preferences', 'get-preferences', 'session'),
  api('PUT', '/users/me/preferences', 'put-preferences', 'session'),
  api('GET', '/users/me/sessions', 'list-sessions', 'session'),
  api('DELETE', '/users/me/sessions', 'end-all-sessions', 'session'),
  api('DELETE', '/users/me/sessions/{id}', 'end-one-session', 'session'),
  api('GET', '/users/me/export', 'export-account', 'session'),
  api('GET', '/admin/users', 'admin-list-users', 'superuser'),
  api('GET', '/admin/users/{id}', 'admin-get-user', 'superuser'),
  api('PATCH', '/admin/users/{id}', 'admin-update-user', 'superuser'),
  api('DELETE', '/admin/users/{id}', 'admin-delete-user', 'superuser'),
  api('DELETE', '/admin/users/{id}/sessions', 'admin-end-sessions', 'superuser'),
  api('POST', '/admin/users/{id}/password-reset', 'admin-password-reset', 'superuser'),
  api('GET', '/health', 'health', 'anyone'),
  api('GET', '/auth/claims', 'claims', 'token'),
  route('GET', JWKS_PATH, 'jwks', 'anyone'),
  route('GET', DISCOVERY_PATH, 'openid-configuration', 'anyone'),
  route('GET', OPENAPI_PATH, 'openapi', 'anyone', true),
  route('GET', DOCS_PAGE_PATH, 'docs', 'anyone', true),
] as const

export const routes: readonly Route[] = [
  ...declared,
  // The docs page's assets, served by its function at exact paths, as API Gateway routes them.
  ...swaggerUiPaths(DOCS_PAGE_PATH)
    .filter(({ path }) => path !== DOCS_PAGE_PATH)
    .map(({ path }) => route('GET', path, 'docs', 'anyone', true)),
]

/** The callers a function's routes declare, as a literal type. */
export type CallersOf<F extends FunctionName> = Extract<(typeof declared)[number], { function: F }>['callers']

/**
 * Who may call an API function, as its routes declare it: the function's handler enforces it (`httpHandler`'s
 * `callers`). Throws at import if the function has no route, or routes that disagree.
 */
export function callersOf<F extends FunctionName>(name: F): CallersOf<F> {
  const found = new Set(routes.filter((entry) => entry.function === name).map((entry) => entry.callers))
  const [callers, ...others] = found
  if (callers === undefined || others.length > 0) throw new Error(`${name}: no single caller declaration`)
  return callers as CallersOf<F>
}

/** The function behind every request that matches no route. */
export const fallbackRoute = { function: 'not-found' } as const satisfies Pick<Route, 'function'>

/** The functions that are not behind the API: run by the deploy (migrate), an operator (seed-admin), a schedule. */
export const operatorFunctions = (Object.keys(lambdas) as FunctionName[])
  .filter((name) => lambdas[name].invokedBy !== 'api')
  .map((name) => ({ function: name, ...lambdas[name] }))

/**
 * The values of a route path's `{name}` segments in a request path (URL-decoded, as API Gateway passes them), or
 * `undefined` when the path does not match the template.
 */
export function matchPath(template: string, path: string): Record<string, string> | undefined {
  const expected = template.split('/')
  const actual = path.split('/')
  if (expected.length !== actual.length) return undefined
  const parameters: Record<string, string> = {}
  for (const [index, part] of expected.entries()) {
    const value = actual[index] ?? ''
    const name = /^\{(\w+)\}$/.exec(part)?.[1]
    if (name === undefined) {
      if (part !== value) return undefined
      continue
    }
    if (value === '') return undefined
    try {
      parameters[name] = decodeURIComponent(value)
    } catch {
      parameters[name] = value
    }
  }
  return parameters
}

/** The route for a method and path, if any; an exact path wins over one with parameters, as in API Gateway. */
export const findRoute = (method: string, path: string): Route | undefined =>
  routes.find((route) => route.method === method && route.path === path) ??
  routes.find((route) => route.method === method && matchPath(route.path, path) !== undefined)

/** The methods a path accepts; empty when the path is unknown. */
export const allowedMethods = (path: string): HttpMethod[] => [
  ...new Set(
    routes.filter((route) => matchPath(route.path, path) !== undefined).map((route) => route.method),
  ),
]
