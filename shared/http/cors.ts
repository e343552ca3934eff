/**
 * The CORS policy, and API Gateway's HTTP API CORS behaviour for the local server to apply as the gateway does. The
 * infra stack configures API Gateway's `CorsConfiguration` from this same policy and origin list syntax, so a front
 * end that works against the local server works against the deployed API.
 *
 * What AWS documents (developerguide/http-api-cors.html): with CORS configured, API Gateway adds the configured
 * headers to the integration's response for a request with an allowed `Origin` (an `OPTIONS` counts as a preflight
 * only with `Access-Control-Request-Method` too), and ignores CORS headers the integration returns. It answers a
 * preflight itself only when no route takes it; here the `$default` route takes every `OPTIONS` (no route is an
 * OPTIONS route), so `functions/not-found.ts` must answer it 2xx, or the browser refuses the preflight.
 *
 * `Vary: Origin`: the gateway's CORS headers depend on the request's `Origin`, and some answers are cacheable (the
 * JWKS, the discovery document, the docs): a cache must never hand an answer made for one origin (or none) to a
 * request from another. The gateway adds `Vary` only where it adds its headers, for an allowed origin, so every
 * function's answer carries `Vary: Origin` itself (`varyOnOrigin`, in the middy stack): allowed, refused or absent
 * origin, and `*` (the gateway answers `*` only to a request with an `Origin`). Also with no CORS configured: the
 * functions cannot see the gateway's configuration, and the header then costs a cache at most one entry per origin
 * (requests without one share an entry). The gateway's own answers (its authorizer's 401, 413, a failed function's
 * 500) carry no `Vary` for a refused origin, as deployed; none of them is cacheable (no freshness, no status a cache
 * may store by default).
 */
export const CORS_POLICY = {
  allowHeaders: ['authorization', 'content-type'],
  allowMethods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
  // Tokens travel in the Authorization header, never in cookies: the browser needs no credentials mode.
  allowCredentials: false,
  // So that a front end can read why it was refused and when to retry (429, 503, 401), and the name a download
  // (the account export) offers its file under.
  exposeHeaders: ['retry-after', 'www-authenticate', 'content-disposition'],
  maxAgeSeconds: 600,
} as const

/**
 * The allowed origins from a comma-separated list (`CORS_ORIGINS` locally, the `corsOrigins` context in infra):
 * each an exact origin such as `http://localhost:5173`, or `*`. Empty means no CORS at all. Throws on an entry
 * that no browser would send as an `Origin` (a path, a trailing slash), which would otherwise never match.
 */
export function parseCorsOrigins(list: string | undefined): string[] {
  const origins = (list ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
  for (const origin of origins) {
    if (origin === '*') continue
    let parsed: URL | undefined
    try {
      parsed = new URL(origin)
    } catch {
      parsed = undefined
    }
    if (!parsed || parsed.origin !== origin || !/^https?:$/.test(parsed.protocol)) {
      throw new Error(
        `CORS origin "${origin}" is not an origin like http://localhost:5173 (no path, no slash)`,
      )
    }
  }
  return origins
}

/** A `Vary` value that lists `Origin`: the one given, with `origin` added unless it lists it (or `*`) already. */
export function varyOnOrigin(vary: string | undefined): string {
  const names = (vary ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '')
  if (names.some((name) => name === '*' || name.toLowerCase() === 'origin')) return names.join(', ')
  return [...names, 'origin'].join(', ')
}

/** The value of `Access-Control-Allow-Origin` for a request's `Origin`, or undefined when it is not allowed. */
function allowedOrigin(origins: readonly string[], origin: string | undefined): string | undefined {
  if (!origin) return undefined
  if (origins.includes('*')) return '*'
  return origins.includes(origin) ? origin : undefined
}

export interface CorsRequest {
  method: string
  origin: string | undefined
  requestMethod: string | undefined
}

/**
 * The headers API Gateway adds for a request: none without an allowed `Origin`, or when no origin is configured.
 * AWS lists the headers, not which answer gets which: a preflight gets the ones the Fetch standard reads there.
 */
function corsHeaders(origins: readonly string[], request: CorsRequest): Record<string, string> {
  const allowOrigin = allowedOrigin(origins, request.origin)
  if (!allowOrigin) return {}
  const common: Record<string, string> = {
    'access-control-allow-origin': allowOrigin,
    ...(CORS_POLICY.allowCredentials ? { 'access-control-allow-credentials': 'true' } : {}),
    ...(allowOrigin === '*' ? {} : { vary: 'origin' }),
  }
  if (request.method === 'OPTIONS' && request.requestMethod) {
    return {
      ...common,
      'access-control-allow-methods': CORS_POLICY.allowMethods.join(','),
      'access-control-allow-headers': CORS_POLICY.allowHeaders.join(','),
      'access-control-max-age': String(CORS_POLICY.maxAgeSeconds),
    }
  }
  return { ...common, 'access-control-expose-headers': CORS_POLICY.exposeHeaders.join(',') }
}

/**
 * A response's headers (names in lower case) as API Gateway sends them with CORS configured: the integration's own
 * `access-control-*` headers dropped, the configured ones added for an allowed origin. Unchanged with no origin.
 */
export function withCors(
  origins: readonly string[],
  request: CorsRequest,
  headers: Readonly<Record<string, string>>,
): Record<string, string> {
  if (origins.length === 0) return { ...headers }
  const kept = Object.fromEntries(
    Object.entries(headers).filter(([name]) => !name.startsWith('access-control-')),
  )
  const added = corsHeaders(origins, request)
  if (added.vary) added.vary = varyOnOrigin(kept.vary)
  return { ...kept, ...added }
}
