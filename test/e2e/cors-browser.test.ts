/**
 * A front end on another origin, in a real browser, against the local stack as `npm start` builds it with
 * `CORS_ORIGINS` set: its JSON POSTs and its bearer-token calls are preflighted (OPTIONS, which the local server
 * routes to `$default` as API Gateway does), and succeed only from the allowed origin.
 */
import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { API_BASE_PATH } from '#functions/routes'
import { type LocalStack, startLocalStack } from '#infra/local/local-stack'
import { CHROMIUM, chromiumInstalled, chromiumTests } from '#test/helpers/chromium'
import { uniqueEmail } from '#test/helpers/events'

/** What the page's script reports of one `fetch`: its outcome as the front end sees it. */
type Outcome =
  | {
      ok: true
      status: number
      body: unknown
      wwwAuthenticate: string | null
      contentDisposition: string | null
    }
  | { ok: false; error: string }

/** A static front end: one empty page, on a port of its own, hence an origin of its own. */
async function servePage(): Promise<{ server: Server; origin: string }> {
  const server = createServer((_request, response) => {
    response
      .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      .end('<!doctype html><title>app</title>')
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

/** Runs `fetch` in the page, as the front end's own script would, and reports what that script could read. */
const fetchFrom = (
  page: Page,
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string },
) =>
  page.evaluate(
    async ({ url, init }): Promise<Outcome> => {
      try {
        const response = await fetch(url, init)
        const text = await response.text()
        return {
          ok: true,
          status: response.status,
          body: text === '' ? undefined : JSON.parse(text),
          wwwAuthenticate: response.headers.get('www-authenticate'),
          contentDisposition: response.headers.get('content-disposition'),
        }
      } catch (error) {
        return { ok: false, error: String(error) }
      }
    },
    { url, init },
  )

const postJson = (page: Page, url: string, body: unknown) =>
  fetchFrom(page, url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })

describe.runIf(chromiumTests())('a front end on another origin, in Chromium', () => {
  let stack: LocalStack
  let api: string
  let browser: Browser
  const pages: Server[] = []
  let allowed: string
  let refused: string
  const consoleErrors: string[] = []
  const user = { email: uniqueEmail('cors'), password: 'correct horse battery' }

  const openAt = async (origin: string) => {
    const page = await browser.newPage()
    page.setDefaultTimeout(30_000)
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text())
    })
    await page.goto(`${origin}/`)
    return page
  }

  beforeAll(async () => {
    if (!chromiumInstalled) throw new Error(`${CHROMIUM} is missing: run scripts/install-chromium.sh`)
    const front = await servePage()
    const other = await servePage()
    pages.push(front.server, other.server)
    allowed = front.origin
    refused = other.origin
    // The functions read their settings once, at first use: all of it is set before the stack starts.
    process.env.ADMIN_EMAIL = 'admin@example.com'
    process.env.ADMIN_PASSWORD = randomBytes(18).toString('base64url')
    process.env.BCRYPT_COST = '10'
    stack = await startLocalStack({ setup: 'functions', server: { corsOrigins: [allowed] } })
    if (!stack.server) throw new Error('the stack serves no API')
    api = `${stack.server.url}${API_BASE_PATH}`
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--disable-gpu'] })
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    for (const server of pages) await new Promise((done) => server.close(done))
    await stack?.stop()
  })

  it('registers, logs in and reads /users/me with a bearer token, from the allowed origin', async () => {
    const page = await openAt(allowed)
    const registered = await postJson(page, `${api}/auth/register`, user)
    expect(registered).toMatchObject({ ok: true, status: 201, body: { email: user.email } })

    const login = await postJson(page, `${api}/auth/login`, user)
    expect(login).toMatchObject({ ok: true, status: 200, body: { token_type: 'bearer' } })
    const token = login.ok ? (login.body as { access_token: string }).access_token : ''

    const me = await fetchFrom(page, `${api}/users/me`, { headers: { authorization: `Bearer ${token}` } })
    expect(me).toMatchObject({ ok: true, status: 200, body: { email: user.email } })

    // The exposed headers reach the script: it can tell an expired token from a network failure.
    const stale = await fetchFrom(page, `${api}/users/me`, { headers: { authorization: 'Bearer stale' } })
    expect(stale).toMatchObject({ ok: true, status: 401, wwwAuthenticate: expect.stringMatching(/^Bearer/) })

    // The account export's file name, which the page gives its download.
    const exported = await fetchFrom(page, `${api}/users/me/export`, {
      headers: { authorization: `Bearer ${token}` },
    })
    expect(exported).toMatchObject({
      ok: true,
      status: 200,
      body: { user: { email: user.email } },
      contentDisposition: expect.stringMatching(
        /^attachment; filename="account-export-\d+-[\d-]{10}\.json"$/,
      ),
    })
    await page.close()
  })

  it('is refused by the browser from an origin that is not allowed', async () => {
    const page = await openAt(refused)
    const login = await postJson(page, `${api}/auth/login`, user)
    expect(login).toEqual({ ok: false, error: expect.stringMatching(/TypeError: Failed to fetch/) })
    expect(consoleErrors.join('\n')).toContain(`from origin '${refused}' has been blocked by CORS policy`)
    await page.close()
  })
})
