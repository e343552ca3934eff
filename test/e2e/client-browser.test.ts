/**
 * The front end's client (client/, built as an app installs it) in Chromium: two tabs of one origin, one browser
 * profile, against the local stack. The app's page loads the client and makes it with `localStorage`; `/api/...` is
 * passed to the stack as a dev server's proxy passes it (one origin, no CORS). Every refresh is counted where the
 * browser sends it, and where the API received it (the account's own audit trail, in its export).
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, request as forward, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Browser, type BrowserContext, chromium, type Page, type Route } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { buildClient } from '#client/scripts/build'
import type { AuthClient, SignedOutReason } from '#client/src/index'
import { type LocalStack, startLocalStack } from '#infra/local/local-stack'
import { CHROMIUM, chromiumInstalled, chromiumTests } from '#test/helpers/chromium'
import { uniqueEmail } from '#test/helpers/events'

const PASSWORD = 'correct horse battery'

/** What a call's promise came to, as the page's script saw it. */
type Outcome<T> =
  | { ok: true; value: T }
  | { ok: false; name: string; status?: number; detail?: unknown; message: string }

/** The page's globals: its client, what the client told the app, and `outcome` to report a call. */
interface AppWindow {
  auth: AuthClient
  events: (SignedOutReason | 'signedIn')[]
  outcome<T>(promise: Promise<T>): Promise<Outcome<T>>
}

/** The app's page: the client, on localStorage, telling the page's script of every event. */
const PAGE = `<!doctype html><title>app</title><script type="module">
import { createAuthClient } from '/client.js'
window.events = []
window.auth = createAuthClient({ storage: localStorage })
auth.on('signedIn', () => events.push('signedIn'))
auth.on('signedOut', ({ reason }) => events.push(reason))
window.outcome = (promise) => promise.then(
  (value) => ({ ok: true, value }),
  (error) => ({ ok: false, name: error.name, status: error.status, detail: error.body?.detail, message: String(error.message) }),
)
</script>`

/** The app's origin: its page, the built client, and `/api/...` passed on to the local stack. */
async function serveApp(api: string, clientModule: string): Promise<{ server: Server; origin: string }> {
  const server = createServer((incoming, response) => {
    const url = incoming.url ?? '/'
    if (url.startsWith('/api/')) {
      const upstream = forward(
        `${api}${url}`,
        { method: incoming.method, headers: incoming.headers },
        (answer) => {
          response.writeHead(answer.statusCode ?? 502, answer.headers)
          answer.pipe(response)
        },
      )
      upstream.on('error', () => response.destroy())
      incoming.pipe(upstream)
    } else if (url === '/client.js') {
      response.writeHead(200, { 'content-type': 'text/javascript' }).end(readFileSync(clientModule))
    } else {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE)
    }
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

type Call = {
  [K in keyof AuthClient]: AuthClient[K] extends (...args: infer A) => Promise<infer R> ? [A, R] : never
}

/** Calls a method of the tab's client in the page, as the app's script would, and reports what came of it. */
const call = <K extends Exclude<keyof AuthClient, 'request' | 'on' | 'close'>>(
  page: Page,
  method: K,
  ...args: Call[K][0]
): Promise<Outcome<Call[K][1]>> =>
  page.evaluate(
    ({ method, args }) => {
      const app = window as unknown as AppWindow
      const called = app.auth[method] as (...input: unknown[]) => Promise<unknown>
      return app.outcome(called(...args))
    },
    { method, args: args as unknown[] },
  ) as Promise<Outcome<Call[K][1]>>

const eventsOf = (page: Page) => page.evaluate(() => (window as unknown as AppWindow).events)

/** The refreshes the API recorded for the account (`refresh` in its audit trail), and whether it saw a reuse. */
async function refreshesRecorded(page: Page): Promise<{ refresh: number; reuse: number }> {
  const exported = await call(page, 'exportAccount')
  if (!exported.ok) throw new Error(`export: ${exported.message}`)
  const types = exported.value.security_events.map((event) => event.type)
  return {
    refresh: types.filter((type) => type === 'refresh').length,
    reuse: types.filter((type) => type === 'refresh_reuse_detected').length,
  }
}

describe.runIf(chromiumTests())('the client in two tabs of Chromium', () => {
  let stack: LocalStack
  let browser: Browser
  let app: { server: Server; origin: string }
  let buildDir: string
  const contexts: BrowserContext[] = []
  const problems: string[] = []

  beforeAll(async () => {
    if (!chromiumInstalled) throw new Error(`${CHROMIUM} is missing: run scripts/install-chromium.sh`)
    buildDir = mkdtempSync(join(tmpdir(), 'papa-auth-client-build-'))
    const { module } = buildClient(buildDir)
    // The functions read their settings once, at first use: all of it is set before the stack starts.
    process.env.ADMIN_EMAIL = 'admin@example.com'
    process.env.ADMIN_PASSWORD = randomBytes(18).toString('base64url')
    process.env.BCRYPT_COST = '10'
    // The API's default reuse interval (10 s), which the client's default matches.
    delete process.env.REFRESH_TOKEN_REUSE_INTERVAL_SECONDS
    stack = await startLocalStack({ setup: 'functions', server: {} })
    if (!stack.server) throw new Error('the stack serves no API')
    app = await serveApp(stack.server.url, module)
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--disable-gpu'] })
  }, 120_000)

  afterEach(() => {
    // An uncaught error in a page's script fails the test that caused it.
    expect(problems.splice(0)).toEqual([])
  })

  afterAll(async () => {
    for (const context of contexts) await context.close()
    await browser?.close()
    if (app) await new Promise((done) => app.server.close(done))
    await stack?.stop()
    if (buildDir) rmSync(buildDir, { recursive: true, force: true })
  })

  /**
   * A new browser profile with two tabs of the app, and a new account logged in in the first. `refreshes` lists the
   * bodies of the refresh requests the tabs sent; `answerRefresh` decides what becomes of each (by default it goes
   * through); `me` counts the `/users/me` requests. `setup` runs in each tab before the app's script.
   */
  async function twoTabs(setup?: () => void) {
    const context = await browser.newContext()
    contexts.push(context)
    if (setup) await context.addInitScript(setup)
    const refreshes: string[] = []
    const me: string[] = []
    const control = { answerRefresh: (route: Route) => route.continue() }
    await context.route('**/api/v1/auth/refresh', (route) => {
      refreshes.push(route.request().postData() ?? '')
      return control.answerRefresh(route)
    })
    context.on('request', (request) => {
      if (new URL(request.url()).pathname === '/api/v1/users/me') me.push(request.url())
    })
    const open = async () => {
      const page = await context.newPage()
      page.setDefaultTimeout(30_000)
      page.on('pageerror', (error) => problems.push(error.message))
      await page.goto(`${app.origin}/`)
      await page.waitForFunction(() => 'outcome' in window)
      return page
    }
    const a = await open()
    const b = await open()
    const email = uniqueEmail('tabs')
    expect(await call(a, 'register', { email, password: PASSWORD })).toMatchObject({ ok: true })
    expect(await call(a, 'login', { email, password: PASSWORD })).toEqual({ ok: true })
    return { context, a, b, refreshes, me, control, email }
  }

  it('share a session: the login of one tab is the other’s, and both apps are told', async () => {
    const { a, b, email } = await twoTabs()
    expect(await call(b, 'isSignedIn')).toEqual({ ok: true, value: true })
    expect(await call(b, 'me')).toMatchObject({ ok: true, value: { email } })
    await b.waitForFunction(() => (window as unknown as AppWindow).events.length > 0)
    expect(await eventsOf(a)).toEqual(['signedIn'])
    expect(await eventsOf(b)).toEqual(['signedIn'])
  })

  it('refresh at the same moment with one refresh request on the wire; both keep working', async () => {
    const { a, b, refreshes, control } = await twoTabs()
    // The first refresh takes its time at the API, so that the other tab's surely starts while it is under way.
    let arrived: () => void = () => undefined
    const underWay = new Promise<void>((done) => {
      arrived = done
    })
    control.answerRefresh = async (route) => {
      arrived()
      await new Promise((done) => setTimeout(done, 500))
      await route.continue()
    }
    const first = call(a, 'refresh')
    await underWay
    const second = call(b, 'refresh')
    expect(await Promise.all([first, second])).toEqual([
      { ok: true, value: true },
      { ok: true, value: true },
    ])
    expect(refreshes).toHaveLength(1)

    const tokens = [await call(a, 'accessToken'), await call(b, 'accessToken')]
    expect(tokens[0]).toEqual(tokens[1])
    expect(await call(a, 'me')).toMatchObject({ ok: true })
    expect(await call(b, 'me')).toMatchObject({ ok: true })
    expect(await refreshesRecorded(b)).toEqual({ refresh: 1, reuse: 0 })
  })

  it('find the access token stale together and still send one refresh', async () => {
    const { a, b, refreshes } = await twoTabs()
    // Both tabs' clocks pass the refresh time of the stored token at once: the next calls of both need a new one.
    for (const page of [a, b]) {
      await page.evaluate(() => {
        const realNow = Date.now
        Date.now = () => realNow() + 15 * 60 * 1000
      })
    }
    const answers = await Promise.all([call(a, 'me'), call(b, 'me'), call(a, 'sessions'), call(b, 'me')])
    expect(answers.map((answer) => answer.ok)).toEqual([true, true, true, true])
    expect(refreshes).toHaveLength(1)
  })

  it('go on signed in when the network drops the answer of a refresh: the client sends it again', async () => {
    const { a, b, refreshes, control } = await twoTabs()
    let dropped = false
    // The refresh reaches the API, which rotates the token; its answer never reaches the page.
    control.answerRefresh = async (route) => {
      if (dropped) return route.continue()
      dropped = true
      await route.fetch()
      return route.abort('connectionreset')
    }
    expect(await call(a, 'refresh')).toEqual({ ok: true, value: true })
    expect(refreshes).toHaveLength(2)
    expect(refreshes[0]).toBe(refreshes[1])
    expect(await call(a, 'me')).toMatchObject({ ok: true })
    expect(await call(b, 'me')).toMatchObject({ ok: true })
    // One session, refreshed twice within the reuse interval: no reuse detected, nothing revoked.
    const sessions = await call(b, 'sessions')
    expect(sessions).toMatchObject({ ok: true, value: [{ current: true }] })
    expect(await refreshesRecorded(b)).toEqual({ refresh: 2, reuse: 0 })
    expect(await eventsOf(a)).toEqual(['signedIn'])
  })

  it('end together: after a logout in one tab, the other’s next call is signed out and its app is told', async () => {
    const { a, b, me } = await twoTabs()
    const stolen = await call(b, 'accessToken')
    expect(await call(a, 'logout')).toEqual({ ok: true })
    await b.waitForFunction(() => (window as unknown as AppWindow).events.includes('logout'))
    expect(await eventsOf(b)).toEqual(['signedIn', 'logout'])

    const before = me.length
    expect(await call(b, 'me')).toMatchObject({ ok: false, name: 'ApiError', status: 401 })
    expect(await call(b, 'isSignedIn')).toEqual({ ok: true, value: false })
    // Known at once, without a request; and the API refuses what the tab had.
    expect(me.length).toBe(before)
    const refused = await fetch(`${app.origin}/api/v1/users/me`, {
      headers: { authorization: `Bearer ${stolen.ok ? stolen.value : ''}` },
    })
    expect(refused.status).toBe(401)
  })

  it('end together when the API refuses the refresh token: both apps are told the session expired', async () => {
    const { a, b } = await twoTabs()
    // Another device ends every session of the account (the list's "sign out everywhere").
    const token = await call(a, 'accessToken')
    const ended = await fetch(`${app.origin}/api/v1/users/me/sessions`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token.ok ? token.value : ''}` },
    })
    expect(ended.status).toBe(204)

    expect(await call(b, 'me')).toMatchObject({
      ok: false,
      status: 401,
      detail: 'Could not validate credentials',
    })
    await a.waitForFunction(() => (window as unknown as AppWindow).events.includes('expired'))
    expect(await eventsOf(a)).toEqual(['signedIn', 'expired'])
    expect(await eventsOf(b)).toEqual(['signedIn', 'expired'])
  })

  describe('without Web Locks and BroadcastChannel (older browsers)', () => {
    const withoutThem = () => {
      Object.defineProperty(Navigator.prototype, 'locks', { value: undefined })
      Reflect.deleteProperty(window, 'BroadcastChannel')
    }

    it('refresh at once with a request each, which the reuse interval answers alike: both stay signed in', async () => {
      const { a, b, refreshes, control } = await twoTabs(withoutThem)
      expect(await a.evaluate(() => [typeof navigator.locks, typeof window.BroadcastChannel])).toEqual([
        'undefined',
        'undefined',
      ])
      control.answerRefresh = async (route) => {
        await new Promise((done) => setTimeout(done, 300))
        await route.continue()
      }
      expect(await Promise.all([call(a, 'refresh'), call(b, 'refresh')])).toEqual([
        { ok: true, value: true },
        { ok: true, value: true },
      ])
      expect(refreshes).toHaveLength(2)
      expect(await call(a, 'me')).toMatchObject({ ok: true })
      expect(await call(b, 'me')).toMatchObject({ ok: true })
      expect(await refreshesRecorded(a)).toEqual({ refresh: 2, reuse: 0 })
    })

    it("tell the other tab's app of a logout through the storage event", async () => {
      const { a, b } = await twoTabs(withoutThem)
      expect(await call(a, 'logout')).toEqual({ ok: true })
      await b.waitForFunction(() => (window as unknown as AppWindow).events.includes('logout'))
      expect(await call(b, 'me')).toMatchObject({ ok: false, status: 401 })
    })
  })
})
