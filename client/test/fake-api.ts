/**
 * The API as the client meets it, in memory: login, refresh with its reuse interval, logout, `/users/me`, and an app's
 * own route that wants a valid access token. Every request is recorded, and the next answers of a route can be
 * replaced (a lost answer, an error) to drive the client through what networks and servers do.
 */
import type { Token, User } from '../src/openapi.ts'

export interface Recorded {
  method: string
  path: string
  authorization: string | null
  body: string
}

interface Session {
  /** Every refresh token of the session, the live one last; with when each was retired. */
  retired: Map<string, number>
  live: string
  access: string
  ended: boolean
}

/** What happens to the next request of a path: answered by the fake as usual, then the answer lost; or replaced. */
type Override = 'lose-answer' | 'network-error' | ((request: Request) => Response | Promise<Response>)

export const USER: User = {
  id: 7,
  email: 'alice@example.com',
  username: null,
  is_active: true,
  is_superuser: false,
  email_verified: false,
  created_at: '2025-01-01T12:00:00.000+00:00',
  updated_at: '2025-01-01T12:00:00.000+00:00',
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } })
const unauthorized = () =>
  json(
    401,
    { detail: 'Could not validate credentials' },
    { 'www-authenticate': 'Bearer error="invalid_token"' },
  )

export function fakeApi(options: { expiresIn?: number; reuseIntervalMs?: number; now?: () => number } = {}) {
  const { expiresIn = 900, reuseIntervalMs = 10_000, now = () => Date.now() } = options
  const requests: Recorded[] = []
  const sessions: Session[] = []
  const overrides = new Map<string, Override[]>()
  let counter = 0

  const pair = (session: Session): Token => {
    counter++
    session.live = `refresh-${counter}`
    session.access = `access-${counter}`
    return {
      access_token: session.access,
      refresh_token: session.live,
      token_type: 'bearer',
      expires_in: expiresIn,
    }
  }
  const byAccess = (authorization: string | null) =>
    sessions.find((session) => !session.ended && authorization === `Bearer ${session.access}`)

  async function answer(request: Request, body: string): Promise<Response> {
    const path = new URL(request.url).pathname
    const route = `${request.method} ${path}`
    if (route === 'POST /api/v1/auth/login') {
      const session: Session = { retired: new Map(), live: '', access: '', ended: false }
      sessions.push(session)
      return json(200, pair(session))
    }
    if (route === 'POST /api/v1/auth/refresh') {
      const token = (JSON.parse(body) as { refresh_token: string }).refresh_token
      const session = sessions.find((each) => each.live === token || each.retired.has(token))
      if (!session || session.ended) return unauthorized()
      const retiredAt = session.retired.get(token)
      if (retiredAt !== undefined && now() - retiredAt > reuseIntervalMs) {
        // Reuse past the interval: the whole session is revoked.
        session.ended = true
        return unauthorized()
      }
      if (retiredAt === undefined) session.retired.set(token, now())
      return json(200, pair(session))
    }
    if (route === 'POST /api/v1/auth/logout') {
      const token = (JSON.parse(body) as { refresh_token: string }).refresh_token
      for (const session of sessions)
        if (session.live === token || session.retired.has(token)) session.ended = true
      return new Response(null, { status: 204 })
    }
    if (route === 'GET /api/v1/users/me' || route.startsWith('POST /app/')) {
      const authorization = request.headers.get('authorization')
      if (!authorization) return json(401, { detail: 'Not authenticated' }, { 'www-authenticate': 'Bearer' })
      if (!byAccess(authorization)) return unauthorized()
      return path === '/api/v1/users/me' ? json(200, USER) : json(200, { echoed: body })
    }
    return json(404, { detail: 'Not Found' })
  }

  const fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request = new Request(
      new URL(String(input instanceof Request ? input.url : input), 'http://api.test'),
      {
        ...(input instanceof Request ? { method: input.method, headers: input.headers } : {}),
        ...init,
        ...(input instanceof Request && input.body ? { body: await input.text() } : {}),
      },
    )
    const body = await request.clone().text()
    const path = new URL(request.url).pathname
    requests.push({ method: request.method, path, authorization: request.headers.get('authorization'), body })
    // Let other callers run first, as a network would: concurrent calls overlap.
    await new Promise((done) => setTimeout(done, 5))
    const override = overrides.get(path)?.shift()
    if (override === 'network-error') throw new TypeError('fetch failed')
    if (override === 'lose-answer') {
      await answer(request, body)
      throw new TypeError('fetch failed')
    }
    return override ? override(request) : answer(request, body)
  }

  return {
    fetch,
    /** The fake's own answer to a request, for an override that lets it through and then does more. */
    answer: async (request: Request) => answer(request, await request.clone().text()),
    requests,
    /** The requests to a path, in order. */
    sent: (path: string) => requests.filter((request) => request.path === path),
    /** The next requests of `path` meet these, one each. */
    next(path: string, ...what: Override[]) {
      overrides.set(path, [...(overrides.get(path) ?? []), ...what])
    },
    /** Ends every session, as a logout elsewhere or an administrator would. */
    endSessions() {
      for (const session of sessions) session.ended = true
    },
    /** The live refresh token of the only session. */
    liveRefreshToken: () => sessions.at(-1)?.live,
  }
}

/** A `localStorage` for tests: shared by the clients ("tabs") given the same instance. */
export function sharedStorage() {
  const items = new Map<string, string>()
  return {
    items,
    getItem: (key: string) => items.get(key) ?? null,
    setItem: (key: string, value: string) => {
      items.set(key, value)
    },
    removeItem: (key: string) => {
      items.delete(key)
    },
  }
}
