import { randomUUID } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  ApiError,
  type AuthClient,
  type AuthClientOptions,
  createAuthClient,
  memoryStorage,
  type SignedOutReason,
  type TokenStorage,
} from '../src/index.ts'
import { fakeApi, sharedStorage, USER } from './fake-api.ts'

const REFRESH = '/api/v1/auth/refresh'
const ME = '/api/v1/users/me'
const CREDENTIALS = { email: 'alice@example.com', password: 'correct horse battery' }

const opened: AuthClient[] = []
afterEach(() => {
  for (const client of opened.splice(0)) client.close()
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

/** A client of `api`; clients given the same `name` and storage are two tabs of one origin. */
function clientOf(api: ReturnType<typeof fakeApi>, options: AuthClientOptions = {}) {
  const client = createAuthClient({
    baseUrl: 'http://api.test',
    fetch: api.fetch,
    name: randomUUID(),
    ...options,
  })
  opened.push(client)
  const events: (SignedOutReason | 'signedIn')[] = []
  client.on('signedIn', () => events.push('signedIn'))
  client.on('signedOut', ({ reason }) => events.push(reason))
  return { client, events }
}

/** Moves the clock past the access token's refresh time; timers keep running. */
function later(seconds: number) {
  vi.useFakeTimers({ toFake: ['Date'] })
  vi.setSystemTime(Date.now() + seconds * 1000)
}

const settle = () => new Promise((done) => setTimeout(done, 20))

describe('a session in one page', () => {
  it('keeps the pair a login returns, sends its access token, and tells the app', async () => {
    const api = fakeApi()
    const storage = sharedStorage()
    const { client, events } = clientOf(api, { storage, name: 'app' })
    expect(await client.isSignedIn()).toBe(false)

    await client.login(CREDENTIALS)
    expect(await client.me()).toEqual(USER)
    expect(api.sent(ME).map((request) => request.authorization)).toEqual(['Bearer access-1'])
    // One item, under the client's name: the pair and when to refresh it.
    expect(JSON.parse(storage.items.get('app.session') ?? '')).toEqual({
      access_token: 'access-1',
      refresh_token: 'refresh-1',
      refresh_at: expect.any(Number),
    })
    await settle()
    expect(events).toEqual(['signedIn'])
  })

  it('refreshes shortly before the access token expires, then sends the new one', async () => {
    const api = fakeApi({ expiresIn: 900 })
    const { client } = clientOf(api, { refreshMarginSeconds: 30 })
    await client.login(CREDENTIALS)

    later(869)
    await client.me()
    expect(api.sent(REFRESH)).toHaveLength(0)
    later(2)
    await client.me()
    expect(api.sent(REFRESH).map((request) => JSON.parse(request.body))).toEqual([
      { refresh_token: 'refresh-1' },
    ])
    expect(api.sent(ME).map((request) => request.authorization)).toEqual([
      'Bearer access-1',
      'Bearer access-2',
    ])
  })

  it('refreshes a short-lived token at half its lifetime, not in a loop', async () => {
    const api = fakeApi({ expiresIn: 40 })
    const { client } = clientOf(api, { refreshMarginSeconds: 30 })
    await client.login(CREDENTIALS)
    later(19)
    await client.me()
    later(2)
    await client.me()
    await client.me()
    expect(api.sent(REFRESH)).toHaveLength(1)
  })

  it('sends one refresh for many calls that find the token stale at once', async () => {
    const api = fakeApi()
    const { client } = clientOf(api)
    await client.login(CREDENTIALS)
    later(900)
    const users = await Promise.all(Array.from({ length: 5 }, () => client.me()))
    expect(users).toEqual(Array(5).fill(USER))
    expect(api.sent(REFRESH)).toHaveLength(1)
    expect(new Set(api.sent(ME).map((request) => request.authorization))).toEqual(
      new Set(['Bearer access-2']),
    )
  })

  it("refreshes once on a 401 from the app's API and sends the request again, body and all", async () => {
    const api = fakeApi()
    const { client } = clientOf(api)
    await client.login(CREDENTIALS)
    // The API refuses the access token the client still thinks good (a key rotation, a clock ahead).
    api.next('/app/notes', (request) =>
      request.headers.get('authorization') === 'Bearer access-1'
        ? new Response(JSON.stringify({ detail: 'Could not validate credentials' }), { status: 401 })
        : Promise.reject(new Error('unexpected')),
    )
    const answer = await client.fetch('http://api.test/app/notes', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'a note',
    })
    expect(answer.status).toBe(200)
    expect(await answer.json()).toEqual({ echoed: 'a note' })
    expect(api.sent('/app/notes').map(({ authorization, body }) => ({ authorization, body }))).toEqual([
      { authorization: 'Bearer access-1', body: 'a note' },
      { authorization: 'Bearer access-2', body: 'a note' },
    ])
    expect(api.sent(REFRESH)).toHaveLength(1)
  })

  it('gives a second 401 to the app as it is: one refresh and one retry, never a loop', async () => {
    const api = fakeApi()
    const { client } = clientOf(api)
    await client.login(CREDENTIALS)
    const refused = () => new Response(JSON.stringify({ detail: 'Not yours' }), { status: 401 })
    api.next('/app/secret', refused, refused)
    const answer = await client.fetch('http://api.test/app/secret', { method: 'POST' })
    expect(answer.status).toBe(401)
    expect(api.sent('/app/secret')).toHaveLength(2)
    expect(api.sent(REFRESH)).toHaveLength(1)
    expect(await client.isSignedIn()).toBe(true)
  })

  it("does not refresh for an admin route's demand of a recent login, which a refresh cannot meet", async () => {
    const api = fakeApi()
    const { client } = clientOf(api)
    await client.login(CREDENTIALS)
    api.next(
      '/api/v1/admin/users',
      () =>
        new Response(JSON.stringify({ detail: 'A more recent login is required' }), {
          status: 401,
          headers: {
            'www-authenticate':
              'Bearer error="insufficient_user_authentication", error_description="A more recent login is required", max_age="3600"',
          },
        }),
    )
    const error = await client.request('get', '/api/v1/admin/users').catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(ApiError)
    expect((error as ApiError).headers.get('www-authenticate')).toContain('insufficient_user_authentication')
    expect(api.sent(REFRESH)).toHaveLength(0)
  })

  it('ends the session and tells the app when the API refuses the refresh token', async () => {
    const api = fakeApi()
    const { client, events } = clientOf(api)
    await client.login(CREDENTIALS)
    api.endSessions()
    const error = await client.me().catch((caught: unknown) => caught)
    expect(error).toMatchObject({ status: 401, body: { detail: 'Could not validate credentials' } })
    expect(api.sent(REFRESH)).toHaveLength(1)
    expect(await client.isSignedIn()).toBe(false)
    await settle()
    expect(events).toEqual(['signedIn', 'expired'])

    // Signed out, a call needs no request to know it.
    const before = api.requests.length
    await expect(client.me()).rejects.toMatchObject({ status: 401, body: { detail: 'Not authenticated' } })
    await expect(client.fetch('http://api.test/app/notes')).rejects.toBeInstanceOf(ApiError)
    expect(api.requests.length).toBe(before)
  })

  it('logs out here first, then at the API, and tells the app', async () => {
    const api = fakeApi()
    const { client, events } = clientOf(api)
    await client.login(CREDENTIALS)
    await client.logout()
    expect(await client.isSignedIn()).toBe(false)
    expect(api.sent('/api/v1/auth/logout').map((request) => JSON.parse(request.body))).toEqual([
      { refresh_token: 'refresh-1' },
    ])
    await settle()
    expect(events).toEqual(['signedIn', 'logout'])
    // Once more: nothing to end.
    await client.logout()
    expect(api.sent('/api/v1/auth/logout')).toHaveLength(1)
  })
})

describe('a refresh whose answer is lost', () => {
  it('is sent again with the same token, and the session goes on', async () => {
    const api = fakeApi()
    const { client, events } = clientOf(api)
    await client.login(CREDENTIALS)
    // The API rotates the token, then the answer never arrives.
    api.next(REFRESH, 'lose-answer')
    expect(await client.refresh()).toBe(true)
    expect(api.sent(REFRESH).map((request) => JSON.parse(request.body))).toEqual([
      { refresh_token: 'refresh-1' },
      { refresh_token: 'refresh-1' },
    ])
    expect(await client.accessToken()).toBe('access-3')
    expect(await client.me()).toEqual(USER)
    await settle()
    expect(events).toEqual(['signedIn'])
  })

  it('is sent again after an error of the server, not after a refusal of the request', async () => {
    const api = fakeApi()
    const { client } = clientOf(api)
    await client.login(CREDENTIALS)
    api.next(
      REFRESH,
      () => new Response(JSON.stringify({ detail: 'Service temporarily unavailable' }), { status: 503 }),
    )
    expect(await client.refresh()).toBe(true)
    expect(api.sent(REFRESH)).toHaveLength(2)

    api.next(
      REFRESH,
      () =>
        new Response(
          JSON.stringify({ detail: [{ loc: ['body'], msg: 'Invalid JSON', type: 'json_invalid' }] }),
          {
            status: 422,
          },
        ),
    )
    await expect(client.refresh()).rejects.toMatchObject({ status: 422, message: 'Invalid JSON' })
    expect(api.sent(REFRESH)).toHaveLength(3)
    expect(await client.isSignedIn()).toBe(true)
  })

  it('is sent again only within the reuse interval, less a second for the journey; the session is kept', async () => {
    const api = fakeApi({ reuseIntervalMs: 2000 })
    const { client, events } = clientOf(api, { reuseIntervalSeconds: 2 })
    await client.login(CREDENTIALS)
    api.next(REFRESH, 'network-error', 'network-error', 'network-error', 'network-error', 'network-error')
    const started = Date.now()
    await expect(client.refresh()).rejects.toThrow('fetch failed')
    // Sent at 0, 0.25 and 0.75 s; the next wait (1 s) would pass the 1 s the interval leaves.
    expect(api.sent(REFRESH)).toHaveLength(3)
    expect(Date.now() - started).toBeLessThan(1500)
    expect(await client.isSignedIn()).toBe(true)
    await settle()
    expect(events).toEqual(['signedIn'])
  })

  it('is never sent again with the interval at 0, as the API would revoke the session', async () => {
    const api = fakeApi({ reuseIntervalMs: 0 })
    const { client } = clientOf(api, { reuseIntervalSeconds: 0 })
    await client.login(CREDENTIALS)
    api.next(REFRESH, 'lose-answer')
    await expect(client.refresh()).rejects.toThrow('fetch failed')
    expect(api.sent(REFRESH)).toHaveLength(1)
  })
})

describe('two tabs sharing a session (Web Locks and BroadcastChannel, as Node has them)', () => {
  function tabs(api: ReturnType<typeof fakeApi>) {
    const storage = sharedStorage()
    const name = randomUUID()
    return [clientOf(api, { storage, name }), clientOf(api, { storage, name })] as const
  }

  it('refresh at the same moment with one request; both go on with the new pair', async () => {
    const api = fakeApi()
    const [a, b] = tabs(api)
    await a.client.login(CREDENTIALS)
    expect(await b.client.isSignedIn()).toBe(true)
    expect(await Promise.all([a.client.refresh(), b.client.refresh()])).toEqual([true, true])
    expect(api.sent(REFRESH)).toHaveLength(1)
    expect(await a.client.accessToken()).toBe('access-2')
    expect(await b.client.accessToken()).toBe('access-2')
    expect(await b.client.me()).toEqual(USER)
  })

  it('find the stale token at once and still send one refresh', async () => {
    const api = fakeApi()
    const [a, b] = tabs(api)
    await a.client.login(CREDENTIALS)
    later(900)
    await Promise.all([a.client.me(), b.client.me(), a.client.me(), b.client.me()])
    expect(api.sent(REFRESH)).toHaveLength(1)
  })

  it('end together: a logout in one tab signs the other out and tells its app', async () => {
    const api = fakeApi()
    const [a, b] = tabs(api)
    await a.client.login(CREDENTIALS)
    await settle()
    await a.client.logout()
    await settle()
    expect(b.events).toEqual(['signedIn', 'logout'])
    await expect(b.client.me()).rejects.toMatchObject({ status: 401 })
    expect(api.sent(ME)).toHaveLength(0)
  })

  it('end together when the API refuses the refresh token in one of them', async () => {
    const api = fakeApi()
    const [a, b] = tabs(api)
    await a.client.login(CREDENTIALS)
    await settle()
    api.endSessions()
    await a.client.refresh()
    await settle()
    expect(a.events).toEqual(['signedIn', 'expired'])
    expect(b.events).toEqual(['signedIn', 'expired'])
  })
})

describe("two tabs, one of which sees the other's writes late, as localStorage across processes does", () => {
  /** The shared storage as a tab sees it `lag` ms late: each read gives what was there that long ago. */
  function lagging(storage: ReturnType<typeof sharedStorage>, lag: number) {
    const history: { at: number; key: string; value: string | null }[] = []
    const write = (key: string, value: string | null) => history.push({ at: Date.now(), key, value })
    return {
      writer: {
        getItem: storage.getItem,
        setItem: (key: string, value: string) => {
          storage.setItem(key, value)
          write(key, value)
        },
        removeItem: (key: string) => {
          storage.removeItem(key)
          write(key, null)
        },
      },
      reader: {
        getItem: (key: string) => {
          const seen = history.filter((entry) => entry.key === key && entry.at <= Date.now() - lag).at(-1)
          return seen ? seen.value : null
        },
        setItem: storage.setItem,
        removeItem: storage.removeItem,
      },
    }
  }

  it('send one refresh: the tab that waited for the lock looks again until the new pair shows', async () => {
    const api = fakeApi()
    const name = randomUUID()
    const { writer, reader } = lagging(sharedStorage(), 150)
    const a = clientOf(api, { storage: writer, name })
    const b = clientOf(api, { storage: reader, name })
    await a.client.login(CREDENTIALS)
    await new Promise((done) => setTimeout(done, 200))
    expect(await Promise.all([a.client.refresh(), b.client.refresh()])).toEqual([true, true])
    expect(api.sent(REFRESH)).toHaveLength(1)
    expect(await b.client.accessToken()).toBe('access-2')
  })
})

describe('two tabs without Web Locks or BroadcastChannel', () => {
  /** A browser's `storage` event, which another tab's change of localStorage fires. */
  function withStorageEvents() {
    const window = new EventTarget()
    vi.stubGlobal('navigator', {})
    vi.stubGlobal('BroadcastChannel', undefined)
    vi.stubGlobal('addEventListener', window.addEventListener.bind(window))
    vi.stubGlobal('removeEventListener', window.removeEventListener.bind(window))
    const storage = sharedStorage()
    const changed = (key: string) => window.dispatchEvent(Object.assign(new Event('storage'), { key }))
    return {
      ...storage,
      setItem: (key: string, value: string) => {
        storage.setItem(key, value)
        changed(key)
      },
      removeItem: (key: string) => {
        storage.removeItem(key)
        changed(key)
      },
    }
  }

  it('refresh at once with two requests, which the reuse interval answers alike: both stay signed in', async () => {
    const storage = withStorageEvents()
    const api = fakeApi()
    const name = randomUUID()
    const a = clientOf(api, { storage, name })
    const b = clientOf(api, { storage, name })
    await a.client.login(CREDENTIALS)
    expect(await Promise.all([a.client.refresh(), b.client.refresh()])).toEqual([true, true])
    expect(api.sent(REFRESH).map((request) => JSON.parse(request.body))).toEqual([
      { refresh_token: 'refresh-1' },
      { refresh_token: 'refresh-1' },
    ])
    expect(await a.client.me()).toEqual(USER)
    expect(await b.client.me()).toEqual(USER)
  })

  it('never bring a session back that a logout in the other tab ended during a refresh', async () => {
    const storage = withStorageEvents()
    const api = fakeApi()
    const name = randomUUID()
    const a = clientOf(api, { storage, name })
    const b = clientOf(api, { storage, name })
    await a.client.login(CREDENTIALS)
    let logout: Promise<void> | undefined
    // The refresh reaches the API; while its answer travels, the other tab logs out.
    api.next(REFRESH, async (request) => {
      const answer = await api.answer(request)
      logout = a.client.logout()
      await logout
      return answer
    })
    expect(await b.client.refresh()).toBe(false)
    await logout
    expect(await a.client.isSignedIn()).toBe(false)
    expect(await b.client.isSignedIn()).toBe(false)
    expect(JSON.parse(storage.items.get(`${name}.session`) ?? '')).toEqual({ ended: 'logout' })
  })

  it("learn of a logout from the storage event, and the other tab's app is told", async () => {
    const storage = withStorageEvents()
    const api = fakeApi()
    const name = randomUUID()
    const a = clientOf(api, { storage, name })
    const b = clientOf(api, { storage, name })
    await a.client.login(CREDENTIALS)
    await settle()
    await a.client.logout()
    await settle()
    expect(b.events).toEqual(['signedIn', 'logout'])
  })
})

describe('storage', () => {
  it('is memory by default: each client its own session', async () => {
    const api = fakeApi()
    const name = randomUUID()
    const a = clientOf(api, { name })
    const b = clientOf(api, { name })
    await a.client.login(CREDENTIALS)
    expect(await a.client.isSignedIn()).toBe(true)
    expect(await b.client.isSignedIn()).toBe(false)
    // A message from the other client is no session of this one's.
    await a.client.refresh()
    await settle()
    expect(b.events).toEqual([])
  })

  it("may be the app's own asynchronous storage (React Native's)", async () => {
    const items = new Map<string, string>()
    const storage: TokenStorage = {
      getItem: async (key) => items.get(key) ?? null,
      setItem: async (key, value) => {
        await new Promise((done) => setTimeout(done, 1))
        items.set(key, value)
      },
      removeItem: async (key) => {
        items.delete(key)
      },
    }
    const api = fakeApi()
    const { client } = clientOf(api, { storage, name: 'native' })
    await client.login(CREDENTIALS)
    expect(JSON.parse(items.get('native.session') ?? '')).toMatchObject({ refresh_token: 'refresh-1' })
    later(900)
    expect(await client.me()).toEqual(USER)
    expect(JSON.parse(items.get('native.session') ?? '')).toMatchObject({ refresh_token: 'refresh-2' })
    await client.logout()
    // What is left says why the session ended, so that every tab tells its app the same; no token.
    expect([...items.entries()]).toEqual([['native.session', '{"ended":"logout"}']])
  })

  it('holds nothing but the one item, and an unreadable item is no session', async () => {
    const api = fakeApi()
    const storage = sharedStorage()
    const { client } = clientOf(api, { storage, name: 'app' })
    await client.login(CREDENTIALS)
    expect([...storage.items.keys()]).toEqual(['app.session'])
    storage.items.set('app.session', '{not json')
    expect(await client.isSignedIn()).toBe(false)
  })

  it('exports a memory storage an app may hand to several clients', async () => {
    const api = fakeApi()
    const storage = memoryStorage()
    const name = randomUUID()
    const a = clientOf(api, { storage, name })
    const b = clientOf(api, { storage, name })
    await a.client.login(CREDENTIALS)
    expect(await b.client.me()).toEqual(USER)
  })
})

describe('errors', () => {
  const answering = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    createAuthClient({
      baseUrl: 'http://api.test',
      fetch: async () =>
        new Response(typeof body === 'string' ? body : JSON.stringify(body), {
          status,
          headers: { 'content-type': 'application/json', ...headers },
        }),
    })

  it("carry a 422's list of problems as the contract writes it", async () => {
    const detail = [
      { loc: ['body', 'email'], msg: 'value is not a valid email address', type: 'value_error' },
      { loc: ['body', 'password'], msg: 'String should have at least 8 bytes', type: 'string_too_short' },
    ]
    const error = await answering(422, { detail })
      .register({ email: 'nope', password: 'short' })
      .catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(ApiError)
    expect(error).toMatchObject({
      name: 'ApiError',
      status: 422,
      body: { detail },
      retryAfter: undefined,
      message: 'value is not a valid email address; String should have at least 8 bytes',
    })
  })

  it("carry the token endpoint's RFC 6749 error", async () => {
    const body = { error: 'invalid_grant', error_description: 'Incorrect email or password' }
    await expect(
      answering(400, body).passwordGrant({ username: 'a@b.co', password: 'x' }),
    ).rejects.toMatchObject({
      status: 400,
      body,
      message: 'Incorrect email or password',
    })
  })

  it('parse Retry-After into seconds, as a number or as an HTTP date', async () => {
    await expect(
      answering(429, { detail: 'Too many failed login attempts' }, { 'retry-after': '120' }).login(
        CREDENTIALS,
      ),
    ).rejects.toMatchObject({ status: 429, retryAfter: 120, message: 'Too many failed login attempts' })
    const inAMinute = new Date(Date.now() + 60_000).toUTCString()
    const error = (await answering(
      503,
      { detail: 'Service temporarily unavailable' },
      { 'retry-after': inAMinute },
    )
      .requestPasswordReset({ email: 'a@b.co' })
      .catch((caught: unknown) => caught)) as ApiError
    expect(error.retryAfter).toBeGreaterThanOrEqual(58)
    expect(error.retryAfter).toBeLessThanOrEqual(60)
  })

  it('keep an answer that is not JSON as no body', async () => {
    await expect(answering(502, '<html>Bad Gateway</html>').register(CREDENTIALS)).rejects.toMatchObject({
      status: 502,
      body: undefined,
      message: 'HTTP 502',
    })
  })
})

describe('requests', () => {
  let calls: { url: string; method: string; headers: Record<string, string>; body: unknown }[]
  let client: AuthClient
  beforeEach(async () => {
    calls = []
    const api = fakeApi()
    client = createAuthClient({
      baseUrl: 'http://api.test',
      name: randomUUID(),
      fetch: async (input, init) => {
        const request = new Request(input, init)
        calls.push({
          url: request.url,
          method: request.method,
          headers: Object.fromEntries(request.headers),
          body: init?.body,
        })
        if (request.url.endsWith('/auth/login')) return api.fetch(input, init)
        return new Response(null, { status: 204 })
      },
    })
    opened.push(client)
    await client.login(CREDENTIALS)
    calls = []
  })

  it('fill path parameters and queries, leaving out what is undefined', async () => {
    await client.request('get', '/api/v1/admin/users', {
      query: { q: 'ali ce', limit: 20, cursor: undefined },
    })
    await client.request('patch', '/api/v1/admin/users/{id}', {
      path: { id: 42 },
      body: { is_active: false },
    })
    await client.endSession('a/b')
    expect(calls.map(({ url, method }) => `${method} ${url}`)).toEqual([
      'GET http://api.test/api/v1/admin/users?q=ali%20ce&limit=20',
      'PATCH http://api.test/api/v1/admin/users/42',
      'DELETE http://api.test/api/v1/users/me/sessions/a%2Fb',
    ])
    expect(calls[1]).toMatchObject({
      headers: { authorization: 'Bearer access-1', 'content-type': 'application/json' },
      body: '{"is_active":false}',
    })
  })

  it('send the token grant as a form, and public routes without the access token', async () => {
    await client
      .passwordGrant({ username: 'alice@example.com', password: 'correct horse' })
      .catch(() => undefined)
    await client.requestPasswordReset({ email: 'alice@example.com' })
    expect(calls[0]?.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/)
    expect(String(calls[0]?.body)).toBe(
      'grant_type=password&username=alice%40example.com&password=correct%20horse',
    )
    expect(calls.map((call) => call.headers.authorization)).toEqual([undefined, undefined])
  })
})
