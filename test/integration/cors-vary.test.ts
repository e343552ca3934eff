/**
 * `Vary: Origin` over HTTP, against the local stack as `npm start` builds it with `CORS_ORIGINS` set: the gateway's
 * CORS headers depend on the request's `Origin`, and the JWKS and discovery answers are cacheable, so every answer
 * says so, whether the origin is allowed, refused or absent; otherwise a cache could hand an answer without CORS
 * headers to the allowed front end (its browser then refuses it), or one made for the front end to anyone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { API_BASE_PATH } from '#functions/routes'
import { type LocalStack, startLocalStack } from '#infra/local/local-stack'
import { DISCOVERY_PATH, JWKS_PATH, WELL_KNOWN_CACHE_CONTROL } from '#shared/http/discovery'

const FRONT_END = 'https://app.example.com'
const OTHER_ORIGIN = 'https://elsewhere.example'

let stack: LocalStack
let base: string
const corsOrigins = process.env.CORS_ORIGINS

beforeAll(async () => {
  process.env.ADMIN_EMAIL = 'vary-admin@example.com'
  process.env.ADMIN_PASSWORD = 'a vary admin password'
  // As `CORS_ORIGINS=… npm start`: the server reads the list from the environment.
  process.env.CORS_ORIGINS = FRONT_END
  stack = await startLocalStack({ setup: 'functions', server: {} })
  base = stack.server?.url ?? ''
}, 90_000)
afterAll(async () => {
  await stack?.stop()
  if (corsOrigins === undefined) delete process.env.CORS_ORIGINS
  else process.env.CORS_ORIGINS = corsOrigins
})

/** The `Vary` header's names, in lower case: each once. */
const varyOf = (response: Response) =>
  (response.headers.get('vary') ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '')

const ORIGINS = [
  { who: 'the allowed origin', origin: FRONT_END, allowOrigin: FRONT_END },
  { who: 'a refused origin', origin: OTHER_ORIGIN, allowOrigin: null },
  { who: 'no origin', origin: undefined, allowOrigin: null },
]

const REQUESTS = [
  { name: `GET ${JWKS_PATH}`, path: JWKS_PATH, init: {}, status: 200, cacheable: true },
  { name: `GET ${DISCOVERY_PATH}`, path: DISCOVERY_PATH, init: {}, status: 200, cacheable: true },
  { name: 'GET /users/me without a token', path: `${API_BASE_PATH}/users/me`, init: {}, status: 401 },
  {
    name: 'POST /auth/login with a wrong password',
    path: `${API_BASE_PATH}/auth/login`,
    init: {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'nobody-vary@example.com', password: 'not the password' }),
    },
    status: 401,
  },
]

describe('Vary: Origin on every answer of the functions, with CORS configured', () => {
  for (const request of REQUESTS) {
    it.each(ORIGINS)(`${request.name}, from $who`, async ({ origin, allowOrigin }) => {
      const init = request.init as RequestInit
      const response = await fetch(`${base}${request.path}`, {
        ...init,
        headers: { ...(init.headers as Record<string, string>), ...(origin ? { origin } : {}) },
      })
      expect(response.status).toBe(request.status)
      expect(response.headers.get('access-control-allow-origin')).toBe(allowOrigin)
      expect(varyOf(response)).toEqual(['origin'])
      if (request.cacheable) expect(response.headers.get('cache-control')).toBe(WELL_KNOWN_CACHE_CONTROL)
      await response.body?.cancel()
    })
  }

  it.each(ORIGINS.filter(({ origin }) => origin))(
    'a preflight from $who: its 204 says it depends on the Origin',
    async ({ origin, allowOrigin }) => {
      const response = await fetch(`${base}${API_BASE_PATH}/auth/login`, {
        method: 'OPTIONS',
        headers: { origin: origin ?? '', 'access-control-request-method': 'POST' },
      })
      expect(response.status).toBe(204)
      expect(response.headers.get('access-control-allow-origin')).toBe(allowOrigin)
      expect(varyOf(response)).toEqual(['origin'])
    },
  )
})
