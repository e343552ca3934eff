/**
 * Every operation of Swagger UI, executed in Chromium as it is filled in, against the local stack as `npm start`
 * builds it (MailDev catching the mail): register the example account, Authorize with it, and each operation answers
 * what its example is for, never a 422. A confirm whose token or code only a mail holds answers its documented 400;
 * an admin route acts on the id the operator types.
 */
import { randomBytes } from 'node:crypto'
import type { Page, Response } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DOCS_PAGE_PATH, routes } from '#functions/routes'
import { type LocalStack, startLocalStack } from '#infra/local/local-stack'
import { type MailCatcher, startMailCatcher } from '#infra/local/mail-catcher'
import { buildOpenApiDocument, EXAMPLE_ACCOUNT } from '#shared/http/openapi'
import { loadSettings } from '#shared/platform/config'
import { type BrowserPage, chromiumTests, openChromiumPage } from '#test/helpers/chromium'

const ADMIN = { email: 'admin@example.com', password: randomBytes(18).toString('base64url') }

describe.runIf(chromiumTests())('Swagger UI, every operation as filled in', () => {
  let catcher: MailCatcher
  let stack: LocalStack
  let browser: BrowserPage | undefined
  let page: Page
  let base: string
  /** Each operation executed, with the status it answered, in order. */
  const answered: { operation: string; status: number }[] = []

  beforeAll(async () => {
    catcher = await startMailCatcher()
    process.env.ADMIN_EMAIL = ADMIN.email
    process.env.ADMIN_PASSWORD = ADMIN.password
    stack = await startLocalStack({ setup: 'functions', server: {}, mail: { smtpUrl: catcher.smtpUrl } })
    base = stack.server?.url as string
    browser = await openChromiumPage()
    page = browser.page
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await stack?.stop()
    await catcher?.stop()
  })

  /** The document as the page loads it, for each operation's method and path. */
  const document = () => buildOpenApiDocument(routes, loadSettings())
  const where = (operationId: string) => {
    for (const [path, item] of Object.entries(document().paths))
      for (const [method, operation] of Object.entries(item))
        if (operation.operationId === operationId) return { method: method.toUpperCase(), path }
    throw new Error(`no operation ${operationId}`)
  }

  /**
   * Opens an operation, types `id` where the page fills in none, presses Execute with everything else as filled in,
   * and answers the response the page received.
   */
  async function execute(tag: string, operationId: string, typed: { id?: number } = {}): Promise<Response> {
    const operation = page.locator(`#operations-${tag}-${operationId}`)
    if (!(await operation.locator('.opblock-body').isVisible()))
      await operation.locator('.opblock-summary').first().click()
    const tryOut = operation.locator('button.try-out__btn', { hasText: 'Try it out' })
    if ((await tryOut.count()) > 0) await tryOut.click()
    const idField = operation.locator('tr[data-param-name="id"] input')
    if (typed.id !== undefined) await idField.fill(String(typed.id))
    const { method, path } = where(operationId)
    const pattern = new RegExp(`^${path.replace(/\{[^}]+\}/g, '[^/]+')}$`)
    const [response] = await Promise.all([
      page.waitForResponse(
        (candidate) =>
          candidate.request().method() === method && pattern.test(new URL(candidate.url()).pathname),
      ),
      operation.locator('button.execute').click(),
    ])
    answered.push({ operation: operationId, status: response.status() })
    // Closed again once answered: a page with every operation open re-renders slowly at each step.
    await operation.locator('.live-responses-table').waitFor()
    await operation.locator('.opblock-summary').first().click()
    return response
  }

  /** Swagger UI's Authorize dialog, the password flow: whoever was authorized logs out first. */
  async function authorize(email: string, password: string) {
    await page.locator('.scheme-container button.authorize').click()
    const flow = page.locator('.modal-ux .auth-container').filter({ hasText: 'OAuth2PasswordBearer' })
    const logout = flow.locator('button.authorize', { hasText: 'Logout' })
    if ((await logout.count()) > 0) await logout.click()
    await flow.locator('#oauth_username').fill(email)
    await flow.locator('#oauth_password').fill(password)
    await flow.locator('button.authorize').click()
    await logout.waitFor()
    await flow.locator('button.btn-done').click()
  }

  it('answers every operation as its example intends, after Authorize, and never 422', async () => {
    await page.goto(`${base}${DOCS_PAGE_PATH}`)
    await page.locator('.swagger-ui .info .title').waitFor()

    const status = async (tag: string, operationId: string, typed?: { id?: number }) =>
      (await execute(tag, operationId, typed)).status()

    // Anyone: the example account as filled in, and the service's public documents.
    expect(await status('auth', 'register')).toBe(201)
    expect(await status('health', 'health')).toBe(200)
    expect(await status('keys', 'jwks')).toBe(200)
    expect(await status('keys', 'openid-configuration')).toBe(200)

    await authorize(EXAMPLE_ACCOUNT.email, EXAMPLE_ACCOUNT.password)
    expect(await status('auth', 'login')).toBe(200)
    expect(await status('auth', 'token')).toBe(200)
    // A refresh token no one was given: refused, as documented; a logout accepts any.
    expect(await status('auth', 'refresh')).toBe(401)
    expect(await status('auth', 'logout')).toBe(204)
    expect(await status('users', 'me')).toBe(200)
    expect(await status('users', 'list-sessions')).toBe(200)
    expect(await status('users', 'export-account')).toBe(200)
    expect(await status('users', 'put-preferences')).toBe(200)
    expect(await status('users', 'get-preferences')).toBe(200)
    expect(await status('users', 'claims')).toBe(200)
    // Requests that mail a token or code, then confirms with one no mail holds.
    expect(await status('auth', 'email-verification')).toBe(202)
    expect(await status('auth', 'email-verification-confirm')).toBe(400)
    expect(await status('auth', 'password-reset')).toBe(202)
    expect(await status('auth', 'password-reset-confirm')).toBe(400)
    expect(await status('users', 'email-change')).toBe(202)
    expect(await status('users', 'email-change-confirm')).toBe(400)
    expect(await status('auth', 'account-deletion')).toBe(202)
    expect(await status('auth', 'account-deletion-confirm')).toBe(400)
    // A session id that is no session of the account.
    expect(await status('users', 'end-one-session')).toBe(404)
    expect(await status('users', 'delete-account')).toBe(204)
    for (const subject of ['verification code', 'Reset your', 'Delete your', 'was deleted']) {
      await catcher.waitFor(EXAMPLE_ACCOUNT.email, (mail) => mail.subject.includes(subject))
    }
    await catcher.waitFor(EXAMPLE_ACCOUNT.newEmail)

    // The account again, for what ends it otherwise: its password changed, then every session of it.
    const again = await execute('auth', 'register')
    expect(again.status()).toBe(201)
    const { id } = (await again.json()) as { id: number }
    await authorize(EXAMPLE_ACCOUNT.email, EXAMPLE_ACCOUNT.password)
    expect(await status('users', 'change-password')).toBe(204)
    expect(await status('users', 'end-all-sessions')).toBe(204)

    // An operator, on the account whose id they type; the page fills in the first account's own.
    await authorize(ADMIN.email, ADMIN.password)
    expect(await status('admin', 'admin-list-users')).toBe(200)
    expect(await status('admin', 'admin-get-user')).toBe(200)
    expect(await status('admin', 'admin-password-reset', { id })).toBe(202)
    expect(await status('admin', 'admin-update-user', { id })).toBe(200)
    expect(await status('admin', 'admin-end-sessions', { id })).toBe(204)
    expect(await status('admin', 'admin-delete-user', { id })).toBe(204)

    const operations = Object.values(document().paths).flatMap((item) =>
      Object.values(item).map((operation) => String(operation.operationId)),
    )
    expect([...new Set(answered.map(({ operation }) => operation))].sort()).toEqual(operations.sort())
    expect(answered.filter(({ status }) => status === 422)).toEqual([])
  }, 360_000)

  it('met no error in the page on the way but the documented 4xx answers, which Chromium reports', () => {
    const refused = /^Failed to load resource: the server responded with a status of (4\d\d) /
    const problems = browser?.problems ?? []
    expect(problems.filter((problem) => !refused.test(problem))).toEqual([])
    expect(problems.map((problem) => Number(refused.exec(problem)?.[1]))).toEqual(
      answered.filter(({ status }) => status >= 400).map(({ status }) => status),
    )
  })
})
