import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type BrowserContext, chromium, type Page } from 'playwright-core'
import { requiredTool } from './required-tool.ts'

/**
 * Debian's Chromium (scripts/install-chromium.sh), or the one CHROMIUM names (a developer's own elsewhere, or a path
 * where there is none, to see the browser tests fail under CI=true); playwright-core drives it and downloads no
 * browser of its own.
 */
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium'
const CHROMIUM_FLAGS = [
  '--headless',
  // Root in CI and containers: Chromium's sandbox needs user namespaces it does not get there.
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]
export const chromiumInstalled = existsSync(CHROMIUM)

/**
 * Declares the test that Chromium is there, and answers whether the browser tests run: in CI a missing browser is a
 * failure, never a silent skip; on a developer's machine it is a skip that says what to install.
 */
export const chromiumTests = () =>
  requiredTool({
    name: 'Chromium',
    where: `at ${CHROMIUM}`,
    found: chromiumInstalled,
    install: 'run scripts/install-chromium.sh',
  })

export interface BrowserPage {
  page: Page
  /** Every URL the page requested, and every console error or page error it met. */
  requested: string[]
  problems: string[]
  close(): Promise<void>
}

/** One page of a fresh Chromium profile, its requests and errors recorded. */
export async function openChromiumPage(): Promise<BrowserPage> {
  if (!chromiumInstalled) throw new Error(`${CHROMIUM} is missing: run scripts/install-chromium.sh`)
  const userDataDir = await mkdtemp(join(tmpdir(), 'chromium-profile-'))
  let context: BrowserContext | undefined
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_FLAGS,
      timeout: 30_000,
    })
  } catch (error) {
    await rm(userDataDir, { recursive: true, force: true })
    throw error
  }
  const page = context.pages()[0] ?? (await context.newPage())
  // Two cores shared with the rest of the suite: parsing Swagger UI's 1.7 MB bundle alone can take seconds.
  page.setDefaultTimeout(30_000)
  const requested: string[] = []
  const problems: string[] = []
  page.on('request', (request) => requested.push(request.url()))
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text())
  })
  page.on('pageerror', (error) => problems.push(error.message))
  const opened = context
  return {
    page,
    requested,
    problems,
    async close() {
      await opened.close()
      await rm(userDataDir, { recursive: true, force: true })
    },
  }
}
