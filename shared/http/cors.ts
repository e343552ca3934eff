/**
 * CORS for a front-end dev server, as API Gateway's HTTP API applies it once `allowOrigins` is configured: it
 * answers preflights itself (no function runs) and adds the headers to every other response for an allowed origin.
 * The infra stack configures API Gateway from the same policy and the same origin list syntax, so a front end that
 * works against the local server works against the deployed API.
 */
export const CORS_POLICY = {
  allowHeaders: ['authorization', 'content-type'],
  allowMethods: ['GET', 'POST', 'OPTIONS'],
  // Tokens travel in the Authorization header, never in cookies: the browser needs no credentials mode.
  allowCredentials: false,
  // So that a front end can read why it was refused and when to retry (429, 503, 401).
  exposeHeaders: ['retry-after', 'www-authenticate'],
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
 * What CORS makes of a request: a preflight to answer without invoking any function, or headers to add to the
 * function's response (none for a request without an allowed `Origin`, or when no origin is configured).
 */
export function corsResponse(
  origins: readonly string[],
  request: CorsRequest,
): { preflight: boolean; headers: Record<string, string> } {
  if (origins.length === 0) return { preflight: false, headers: {} }
  const allowOrigin = allowedOrigin(origins, request.origin)
  const vary: Record<string, string> = allowOrigin && allowOrigin !== '*' ? { vary: 'origin' } : {}
  if (request.method === 'OPTIONS' && request.origin && request.requestMethod) {
    if (!allowOrigin) return { preflight: true, headers: {} }
    return {
      preflight: true,
      headers: {
        'access-control-allow-origin': allowOrigin,
        'access-control-allow-methods': CORS_POLICY.allowMethods.join(','),
        'access-control-allow-headers': CORS_POLICY.allowHeaders.join(','),
        'access-control-max-age': String(CORS_POLICY.maxAgeSeconds),
        ...vary,
      },
    }
  }
  if (!allowOrigin) return { preflight: false, headers: {} }
  return {
    preflight: false,
    headers: {
      'access-control-allow-origin': allowOrigin,
      'access-control-expose-headers': CORS_POLICY.exposeHeaders.join(','),
      ...vary,
    },
  }
}
