/**
 * `npm run smoke -- <api base URL> [--origin <allowed origin>]`: the checks a platform engineer runs after a deploy,
 * against the deployed API (or the local one): register a throwaway account, log in, read /users/me, refresh, log
 * out, and, with --origin, a browser's CORS preflight from that origin. Prints each step; exits 1 on the first wrong
 * answer. The throwaway account stays (smoke-<random>@example.com).
 */
import { randomBytes } from 'node:crypto'

export interface SmokeStep {
  step: string
  ok: boolean
  detail: string
}

/** Runs the smoke test against `base` (the API's base URL, ending in /api/v1); one entry per step, in order. */
export async function smoke(base: string, origin?: string): Promise<SmokeStep[]> {
  const steps: SmokeStep[] = []
  const url = (path: string) => `${base.replace(/\/+$/, '')}${path}`
  const record = (step: string, ok: boolean, detail: string) => {
    steps.push({ step, ok, detail })
    return ok
  }
  const json = async (method: string, path: string, body?: unknown, token?: string) => {
    const response = await fetch(url(path), {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await response.text()
    return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} }
  }

  const email = `smoke-${randomBytes(6).toString('hex')}@example.com`
  const password = randomBytes(18).toString('base64url')
  const health = await json('GET', '/health')
  if (!record('health', health.status === 200, `${health.status} ${JSON.stringify(health.body)}`))
    return steps
  const registered = await json('POST', '/auth/register', { email, password })
  if (!record('register', registered.status === 201, `${registered.status} ${email}`)) return steps
  const login = await json('POST', '/auth/login', { email, password })
  const pair = login.body as { access_token?: string; refresh_token?: string }
  if (!record('login', login.status === 200 && !!pair.access_token, `${login.status}`)) return steps
  const me = await json('GET', '/users/me', undefined, pair.access_token)
  if (!record('me', me.status === 200 && me.body.email === email, `${me.status} ${String(me.body.email)}`))
    return steps
  const refreshed = await json('POST', '/auth/refresh', { refresh_token: pair.refresh_token })
  const next = refreshed.body as { refresh_token?: string }
  if (!record('refresh', refreshed.status === 200 && !!next.refresh_token, `${refreshed.status}`))
    return steps
  const logout = await json('POST', '/auth/logout', { refresh_token: next.refresh_token })
  if (!record('logout', logout.status === 204, `${logout.status}`)) return steps
  const after = await json('POST', '/auth/refresh', { refresh_token: next.refresh_token })
  if (!record('logged out: refresh refused', after.status === 401, `${after.status}`)) return steps

  if (origin) {
    const preflight = await fetch(url('/auth/login'), {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    })
    const allowed = preflight.headers.get('access-control-allow-origin')
    record(
      `CORS preflight from ${origin}`,
      preflight.status >= 200 && preflight.status < 300 && (allowed === origin || allowed === '*'),
      `${preflight.status}, Access-Control-Allow-Origin: ${allowed ?? 'none'}`,
    )
  }
  return steps
}

if (import.meta.main) {
  const args = process.argv.slice(2)
  const originAt = args.indexOf('--origin')
  const origin = originAt >= 0 ? args[originAt + 1] : undefined
  const base = args.find((arg, index) => !arg.startsWith('--') && index !== originAt + 1)
  if (!base || (originAt >= 0 && !origin)) {
    process.stderr.write(
      'usage: npm run smoke -- <api base URL, e.g. https://…/api/v1> [--origin <allowed origin>]\n',
    )
    process.exit(2)
  }
  const steps = await smoke(base, origin).catch((error: unknown) => [
    { step: 'request', ok: false, detail: error instanceof Error ? error.message : String(error) },
  ])
  for (const { step, ok, detail } of steps)
    process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${step}: ${detail}\n`)
  process.exit(steps.every((step) => step.ok) ? 0 : 1)
}
