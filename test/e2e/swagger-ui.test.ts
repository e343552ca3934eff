import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { sql } from 'drizzle-orm'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DOCS_PAGE_PATH } from '#functions/routes'
import { createLocalServer } from '#infra/local/server'
import { disposeAll } from '#shared/app/memo'
import { type BrowserPage, chromiumTests, openChromiumPage } from '#test/helpers/chromium'
import { testDatabase } from '#test/helpers/database'
import { uniqueEmail } from '#test/helpers/events'

describe.runIf(chromiumTests())('Swagger UI on the local stack, in a browser', () => {
  let server: Server
  let base: string
  let browser: BrowserPage | undefined
  let page: Page
  const user = { email: uniqueEmail('swagger'), password: 'correct horse battery', username: null }

  beforeAll(async () => {
    server = createLocalServer({ corsOrigins: [] })
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

    const registered = await fetch(`${base}/api/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: user.email, password: user.password }),
    })
    expect(registered.status).toBe(201)

    browser = await openChromiumPage()
    page = browser.page
  }, 60_000)

  afterAll(async () => {
    await browser?.close()
    server?.closeAllConnections()
    await new Promise((done) => (server ? server.close(done) : done(undefined)))
    await disposeAll()
  })

  it('authorizes with the password flow as a person would and shows GET /users/me', async () => {
    await page.goto(`${base}${DOCS_PAGE_PATH}`)
    await expect(page.locator('.swagger-ui .info .title').textContent()).resolves.toContain('papa-auth')

    await page.locator('.scheme-container button.authorize').click()
    const dialog = page.locator('.modal-ux')
    const passwordFlow = dialog.locator('.auth-container').filter({ hasText: 'OAuth2PasswordBearer' })
    await passwordFlow.locator('#oauth_username').fill(user.email)
    await passwordFlow.locator('#oauth_password').fill(user.password)
    await passwordFlow.locator('button.authorize').click()
    // Swagger UI shows who is logged in, and a Logout button, only once the token endpoint answered 200.
    await passwordFlow.locator('button.authorize', { hasText: 'Logout' }).waitFor()
    await expect(passwordFlow.textContent()).resolves.toContain(`username: ${user.email}`)
    await passwordFlow.locator('button.btn-done').click()

    const operation = page.locator('#operations-users-me')
    await operation.locator('.opblock-summary').click()
    await operation.getByRole('button', { name: 'Execute' }).click()
    const live = operation.locator('.live-responses-table')
    await live.waitFor()
    await expect(live.locator('tr.response .response-col_status').first().textContent()).resolves.toBe('200')
    const body = JSON.parse(
      (await live.locator('tr.response .response-col_description pre').first().textContent()) ?? '',
    ) as unknown
    expect(body).toMatchObject({ email: user.email, is_active: true, is_superuser: false })
    await expect(operation.locator('.curl-command').textContent()).resolves.toMatch(
      /Authorization: Bearer ey/,
    )
  }, 120_000)

  it('lets a superuser run the admin operations as pre-filled: the list, then one account', async () => {
    const admin = { email: uniqueEmail('swagger-admin'), password: 'correct horse battery staple' }
    const registered = await fetch(`${base}/api/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(admin),
    })
    expect(registered.status).toBe(201)
    const database = testDatabase()
    try {
      await database.db.execute(sql`update users set is_superuser = true where email = ${admin.email}`)
    } finally {
      await database.close()
    }

    // Log the plain user out of Swagger UI's dialog and the superuser in.
    await page.locator('.scheme-container button.authorize').click()
    const passwordFlow = page.locator('.modal-ux .auth-container').filter({ hasText: 'OAuth2PasswordBearer' })
    await passwordFlow.locator('button.authorize', { hasText: 'Logout' }).click()
    await passwordFlow.locator('#oauth_username').fill(admin.email)
    await passwordFlow.locator('#oauth_password').fill(admin.password)
    await passwordFlow.locator('button.authorize').click()
    await passwordFlow.locator('button.authorize', { hasText: 'Logout' }).waitFor()
    await passwordFlow.locator('button.btn-done').click()

    /** Opens an operation, runs it with what Swagger UI fills in, and answers the status and body shown. */
    const execute = async (id: string) => {
      const operation = page.locator(`#${id}`)
      await operation.locator('.opblock-summary').first().click()
      const tryOut = operation.locator('button.try-out__btn')
      if ((await tryOut.textContent())?.includes('Try it out')) await tryOut.click()
      await operation.locator('button.execute').click()
      const live = operation.locator('.live-responses-table')
      await live.waitFor()
      return {
        status: await live.locator('tr.response .response-col_status').first().textContent(),
        body: JSON.parse(
          (await live.locator('tr.response .response-col_description pre').first().textContent()) ?? '',
        ),
      }
    }
    const listed = await execute('operations-admin-admin-list-users')
    expect(listed.status).toBe('200')
    expect(listed.body).toMatchObject({ items: expect.any(Array) })
    expect((listed.body as { items: { email: string }[] }).items.map((user) => user.email)).toContain(
      admin.email,
    )
    // The pre-filled id (1) is valid input: the account it names answers, or is not there in this shared database;
    // never a 422 for what Swagger UI filled in.
    const read = await execute('operations-admin-admin-get-user')
    expect(['200', '404']).toContain(read.status)
  }, 120_000)

  it('loaded everything from the API itself, with no error or policy violation on the way', () => {
    const { requested, problems } = browser as BrowserPage
    expect(requested.length).toBeGreaterThan(0)
    const elsewhere = requested.filter((url) => !url.startsWith(`${base}/`) && !url.startsWith('data:'))
    expect(elsewhere).toEqual([])
    expect(requested).toContain(`${base}/api/v1/openapi.json`)
    expect(requested).toContain(`${base}/api/v1/auth/token`)
    expect(requested.some((url) => url.startsWith(`${base}/api/v1/admin/users`))).toBe(true)
    expect(problems).toEqual([])
  })
})
