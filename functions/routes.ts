/**
 * The one table of HTTP routes. `infra/` builds an API Gateway route and a Lambda function per entry, and the
 * local server (`infra/local/`) dispatches to the same handlers, so the two cannot disagree.
 *
 * `memoryMb` buys CPU as well as memory on Lambda (CPU scales linearly with memory, one full vCPU at 1769 MB):
 * the functions that run bcrypt are CPU-bound for ~200 ms at cost 12, so they get a full vCPU; the others only
 * verify an HMAC or wait on the database.
 */
import { swaggerUiPaths } from '#shared/http/swagger-ui'

export type HttpMethod = 'GET' | 'POST'

export interface Route {
  readonly method: HttpMethod
  readonly path: string
  /** The entry file under `functions/`, without extension; also the function's logical name. */
  readonly function: string
  readonly memoryMb: number
  /** A documentation route (OpenAPI, Swagger UI): deployed only when the `docs` context is on; always served locally. */
  readonly docs?: boolean
}

export const API_BASE_PATH = '/api/v1'
/** The OpenAPI document, generated from the same valibot schemas the functions validate with. */
export const OPENAPI_PATH = `${API_BASE_PATH}/openapi.json`
/** Swagger UI; outside the API's base path, as the old backend's `/docs` was. */
export const DOCS_PAGE_PATH = '/docs'

const BCRYPT_MEMORY_MB = 1769
const LIGHT_MEMORY_MB = 512
const DOCS_MEMORY_MB = 256

export const routes: readonly Route[] = [
  {
    method: 'POST',
    path: `${API_BASE_PATH}/auth/register`,
    function: 'register',
    memoryMb: BCRYPT_MEMORY_MB,
  },
  { method: 'POST', path: `${API_BASE_PATH}/auth/login`, function: 'login', memoryMb: BCRYPT_MEMORY_MB },
  { method: 'POST', path: `${API_BASE_PATH}/auth/token`, function: 'token', memoryMb: BCRYPT_MEMORY_MB },
  { method: 'POST', path: `${API_BASE_PATH}/auth/refresh`, function: 'refresh', memoryMb: LIGHT_MEMORY_MB },
  { method: 'POST', path: `${API_BASE_PATH}/auth/logout`, function: 'logout', memoryMb: LIGHT_MEMORY_MB },
  { method: 'GET', path: `${API_BASE_PATH}/users/me`, function: 'me', memoryMb: LIGHT_MEMORY_MB },
  { method: 'GET', path: `${API_BASE_PATH}/health`, function: 'health', memoryMb: LIGHT_MEMORY_MB },
  { method: 'GET', path: OPENAPI_PATH, function: 'openapi', memoryMb: DOCS_MEMORY_MB, docs: true },
  // One function serves the page and each of its assets (exact paths, as API Gateway routes them).
  ...swaggerUiPaths(DOCS_PAGE_PATH).map(
    ({ path }): Route => ({ method: 'GET', path, function: 'docs', memoryMb: DOCS_MEMORY_MB, docs: true }),
  ),
]

/** Answers every request that matches no route: 404, or 405 with `Allow` when only the method is wrong. */
export const fallbackRoute = { function: 'not-found', memoryMb: 256 } as const

/** Functions that are not behind the API: invoked by the deploy (migrate) or by an operator (seed-admin). */
export const operatorFunctions = [
  { function: 'migrate', memoryMb: 512 },
  { function: 'seed-admin', memoryMb: BCRYPT_MEMORY_MB },
] as const

/** The route for a method and path, if any. */
export const findRoute = (method: string, path: string): Route | undefined =>
  routes.find((route) => route.method === method && route.path === path)

/** The methods a path accepts; empty when the path is unknown. */
export const allowedMethods = (path: string): HttpMethod[] =>
  routes.filter((route) => route.path === path).map((route) => route.method)
