/**
 * docs/frontend.md, run as written: `npm start` as the guide starts it (its own data folder; port 0, so the addresses
 * it prints stand in for the guide's 127.0.0.1:3000 and 127.0.0.1:1080, and its issuer for the example one; bcrypt at
 * its lowest cost, for time), then every
 * block of the guide in order: the shell blocks in bash (`curl` failing on any error status, so a block passes only
 * when every call of it succeeds), the client packed and installed into an app beside the repository as the guide
 * says, the Node script with Node, the browser modules type-checked strictly and run in Chromium, the Vite config with a
 * stand-in for `vite`, the jose verifier against the local issuer, the Python verifier compiled. A block no check takes
 * fails the last test.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process'
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { createServer, request as forward, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { buildSync } from 'esbuild'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { stopStalePostgres } from '#infra/local/local-stack'
import { CHROMIUM, chromiumInstalled, chromiumTests } from '#test/helpers/chromium'
import { uniqueEmail } from '#test/helpers/events'
import { requiredTool } from '#test/helpers/required-tool'

const root = resolve(import.meta.dirname, '../..')
const GUIDE = 'docs/frontend.md'
/** The addresses and issuer the guide writes, which the started API's own replace. */
const WRITTEN = { api: 'http://127.0.0.1:3000', mail: 'http://127.0.0.1:1080' }
const EXAMPLE_ISSUER = 'https://abc123.execute-api.eu-west-1.amazonaws.com'

interface Block {
  index: number
  /** Where it starts in the guide, for the messages. */
  line: number
  lang: string
  text: string
  /** The file a code block names on its first line (`// src/auth.ts`, `// flow.mjs: node flow.mjs`). */
  file: string | undefined
}

function blocksOf(markdown: string): Block[] {
  const blocks: Block[] = []
  const lines = markdown.split('\n')
  for (let at = 0; at < lines.length; at++) {
    const open = /^```(\w+)\s*$/.exec(lines[at] ?? '')
    if (!open) continue
    const start = at
    const body: string[] = []
    while (++at < lines.length && lines[at] !== '```') body.push(lines[at] ?? '')
    const text = body.join('\n')
    blocks.push({
      index: blocks.length,
      line: start + 1,
      lang: open[1] ?? '',
      text,
      file: /^\/\/ ([\w./-]+)/.exec(text)?.[1],
    })
  }
  return blocks
}

const blocks = blocksOf(readFileSync(join(root, GUIDE), 'utf8'))
const checked = new Set<number>()
const where = (block: Block) => `${GUIDE}:${block.line}`
const START = /^((?:[A-Z_]+=\S+ )*)npm start$/
const isStart = (block: Block) => block.lang === 'sh' && START.test(block.text.trim())
const byFile = (file: string) => blocks.find((block) => block.file === file)

let workDir: string
let repository: string
let app: string
let started: { child: ChildProcess; output: () => string } | undefined
let api: string
let mail: string
let issuer: string
let dataDir: string
const tarball = join(root, 'client/papa-auth-client-0.1.0.tgz')
/** `npm pack` builds the client's dist/ in the repository: removed afterwards unless a build was there before. */
const clientDist = join(root, 'client/dist')
const distWasThere = existsSync(clientDist)

/** A block as it runs here: the started API's addresses and issuer in place of the written ones. */
const asRun = (block: Block) =>
  block.text.replaceAll(WRITTEN.api, api).replaceAll(WRITTEN.mail, mail).replaceAll(EXAMPLE_ISSUER, issuer)

/** What a shell of the reader's has: this Node first, npm told to stay offline and quiet. */
const readerEnv = (): NodeJS.ProcessEnv => ({
  PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
  HOME: process.env.HOME,
  npm_config_offline: 'true',
  npm_config_audit: 'false',
  npm_config_fund: 'false',
  npm_config_update_notifier: 'false',
})

/** Runs a shell block in bash, stopping at the first failing command; `curl` fails on an error status too. */
function runShell(block: Block, cwd: string): string {
  const script = `set -euo pipefail\ncurl() { command curl --fail-with-body "$@"; }\n${asRun(block)}\n`
  const result = spawnSync('bash', ['-c', script], {
    cwd,
    env: readerEnv(),
    encoding: 'utf8',
    timeout: 120_000,
  })
  expect(result.status, `${where(block)} failed:\n${result.stdout}\n${result.stderr}`).toBe(0)
  checked.add(block.index)
  return result.stdout
}

/** `npm start`'s script, as the guide's start blocks write it: together they name the settings it starts with. */
async function startAsWritten(): Promise<void> {
  const scripts = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts as Record<
    string,
    string
  >
  expect(scripts.start).toBe('node infra/local/start.ts')
  const settings: Record<string, string> = {}
  for (const block of blocks.filter(isStart)) {
    for (const assignment of (START.exec(block.text.trim())?.[1] ?? '').trim().split(' ').filter(Boolean)) {
      const [name = '', value = ''] = assignment.split('=')
      expect(settings[name] ?? value, `${where(block)}: ${name} set two ways`).toBe(value)
      settings[name] = value
    }
    checked.add(block.index)
  }
  const child = spawn(process.execPath, ['infra/local/start.ts'], {
    cwd: root,
    // bcrypt's lowest cost the service takes, for the suite's time; the guide's flows are the same at any cost.
    env: { ...readerEnv(), ...settings, PORT: '0', LOCAL_DATA_DIR: dataDir, BCRYPT_COST: '10' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout?.on('data', (chunk) => (output += chunk))
  child.stderr?.on('data', (chunk) => (output += chunk))
  started = { child, output: () => output }
  await new Promise<void>((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`npm start did not come up:\n${output}`)), 90_000)
    child.stdout?.on('data', () => {
      if (!output.includes('Ctrl-C stops')) return
      clearTimeout(timer)
      done()
    })
    child.on('exit', () => fail(new Error(`npm start exited:\n${output}`)))
  })
  api = /API listening on (http:\/\/[\d.:]+)\/api\/v1/.exec(output)?.[1] ?? ''
  mail = /Mail: (http:\/\/[\d.:]+)/.exec(output)?.[1] ?? ''
  issuer = /Issuer: (http:\/\/[\d.:]+)/.exec(output)?.[1] ?? ''
  expect({ api, mail, issuer }).toEqual({
    api: expect.stringMatching(/^http:\/\//),
    mail: expect.stringMatching(/^http:\/\//),
    issuer: api,
  })
}

beforeAll(async () => {
  // This repository and an app side by side, as the guide has them: `papa-auth` holds the local data and the client.
  workDir = mkdtempSync(join(tmpdir(), 'papa-auth-guide-'))
  repository = join(workDir, 'papa-auth')
  app = join(workDir, 'my-app')
  mkdirSync(repository)
  mkdirSync(app)
  // As root, PostgreSQL runs as its own user, which must be able to reach the data folder.
  for (const folder of [workDir, repository]) chmodSync(folder, 0o755)
  symlinkSync(join(root, 'client'), join(repository, 'client'))
  dataDir = join(repository, '.local')
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'my-app', private: true, type: 'module' }))
  await startAsWritten()
}, 120_000)

afterAll(async () => {
  if (started && started.child.exitCode === null) {
    const exited = new Promise((done) => started?.child.once('exit', done))
    started.child.kill('SIGINT')
    await Promise.race([exited, new Promise((done) => setTimeout(done, 15_000))])
  }
  if (dataDir) await stopStalePostgres(join(dataDir, 'pgdata'))
  rmSync(tarball, { force: true })
  if (!distWasThere) rmSync(clientDist, { recursive: true, force: true })
  if (workDir) rmSync(workDir, { recursive: true, force: true })
})

describe('docs/frontend.md, as written', () => {
  it('has bash and curl, which its shell blocks use', () => {
    expect(spawnSync('bash', ['--version']).status, 'bash is missing').toBe(0)
    expect(spawnSync('curl', ['--version']).status, 'curl is missing: the guide’s examples use it').toBe(0)
  })

  it('starts the API with npm start, CORS for the dev server’s origins as the guide sets them', async () => {
    const health = await fetch(`${api}/api/v1/health`)
    expect(await health.json()).toEqual({ status: 'ok' })
    for (const origin of ['http://localhost:5173', 'http://127.0.0.1:5173']) {
      const preflight = await fetch(`${api}/api/v1/users/me`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'GET',
          'access-control-request-headers': 'authorization',
        },
      })
      expect(preflight.status).toBe(204)
      expect(preflight.headers.get('access-control-allow-origin')).toBe(origin)
    }
  })

  it('runs the Vite config: its proxy sends /api to the API', () => {
    const block = byFile('vite.config.ts')
    if (!block) throw new Error('the guide has no vite.config.ts')
    // A stand-in for Vite: its defineConfig hands the config back, as Vite's does.
    const vite = join(app, 'node_modules/vite')
    mkdirSync(vite, { recursive: true })
    writeFileSync(
      join(vite, 'package.json'),
      JSON.stringify({ name: 'vite', type: 'module', main: 'index.js' }),
    )
    writeFileSync(join(vite, 'index.js'), 'export const defineConfig = (config) => config\n')
    writeFileSync(join(app, 'vite.config.ts'), asRun(block))
    const config = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "console.log(JSON.stringify((await import('./vite.config.ts')).default))",
      ],
      { cwd: app, encoding: 'utf8' },
    )
    expect(JSON.parse(config)).toEqual({ server: { proxy: { '/api': api } } })
    checked.add(block.index)
  })

  it('packs the client and installs it into the app beside the repository', () => {
    const block = blocks.find((each) => each.lang === 'sh' && each.text.includes('npm pack'))
    if (!block) throw new Error('the guide does not say how to get the client')
    runShell(block, repository)
    const installed = JSON.parse(
      readFileSync(join(app, 'node_modules/@papa-auth/client/package.json'), 'utf8'),
    )
    expect(installed).toMatchObject({ name: '@papa-auth/client' })
    expect(existsSync(join(app, 'node_modules/@papa-auth/client/dist/index.d.ts'))).toBe(true)
  }, 120_000)

  it('runs the Node script: register, login, me, an API of the app, a refresh, a logout', () => {
    const block = byFile('flow.mjs')
    if (!block) throw new Error('the guide has no flow.mjs')
    writeFileSync(join(app, 'flow.mjs'), asRun(block))
    const output = execFileSync(process.execPath, ['flow.mjs'], {
      cwd: app,
      encoding: 'utf8',
      timeout: 30_000,
    })
    expect(output.trim().split('\n')).toEqual([
      expect.stringMatching(/^me: dana\.\d+@example\.com$/),
      'claims: 200',
      'refreshed: true',
      'signed in: false',
    ])
    checked.add(block.index)
  })

  it('type-checks the browser modules strictly, against the installed client', () => {
    const modules = blocks.filter((block) => block.lang === 'ts' && block.file?.startsWith('src/'))
    expect(modules.map((block) => block.file)).toEqual(
      expect.arrayContaining([
        'src/auth.ts',
        'src/claims.ts',
        'src/plain.ts',
        'src/reset.ts',
        'src/export.ts',
      ]),
    )
    for (const block of modules) {
      mkdirSync(dirname(join(app, block.file ?? '')), { recursive: true })
      writeFileSync(join(app, block.file ?? ''), asRun(block))
    }
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noUncheckedIndexedAccess: true,
          exactOptionalPropertyTypes: true,
          noEmit: true,
          skipLibCheck: false,
          target: 'es2022',
          module: 'esnext',
          moduleResolution: 'bundler',
          lib: ['es2022', 'dom', 'dom.iterable'],
          types: [],
        },
        include: ['src'],
      }),
    )
    const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', app], {
      encoding: 'utf8',
    })
    expect(tsc.stdout).toBe('')
    for (const block of modules) checked.add(block.index)
  }, 60_000)

  // Without the browser, the browser modules are skipped on a developer's machine, and fail in CI.
  const browserRuns = chromiumTests()
  describe.runIf(browserRuns)('the browser modules, in Chromium', () => {
    let browser: Browser
    let page: Page
    let front: { server: Server; origin: string }
    const PASSWORD = 'correct horse battery'

    /** An export of the guide's modules, called in the page. */
    const guide = <T>(page: Page, call: string, ...args: unknown[]): Promise<T> =>
      page.evaluate(
        async ({ call, args }) => {
          const [module = '', name = ''] = call.split('.')
          const modules = (window as unknown as { guide: Record<string, Record<string, unknown>> }).guide
          const exported = modules[module]?.[name]
          if (typeof exported !== 'function') throw new Error(`no ${call}`)
          return exported(...args)
        },
        { call, args },
      ) as Promise<T>

    beforeAll(async () => {
      if (!chromiumInstalled) throw new Error(`${CHROMIUM} is missing: run scripts/install-chromium.sh`)
      const names = blocks.filter((block) => block.file?.startsWith('src/')).map((block) => block.file ?? '')
      writeFileSync(
        join(app, 'entry.ts'),
        `${names.map((file, index) => `import * as m${index} from './${file}'`).join('\n')}\n` +
          `Object.assign(window, { guide: { ${names.map((file, index) => `'${file.slice(4, -3)}': m${index}`).join(', ')} } })\n`,
      )
      const [bundle] =
        buildSync({
          entryPoints: [join(app, 'entry.ts')],
          bundle: true,
          format: 'esm',
          write: false,
          absWorkingDir: app,
        }).outputFiles ?? []
      if (!bundle) throw new Error('esbuild wrote no bundle')
      front = await serveFront(api, bundle.text)
      browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--disable-gpu'] })
      page = await browser.newPage({ acceptDownloads: true })
      page.setDefaultTimeout(30_000)
      await page.goto(`${front.origin}/`)
      await page.waitForFunction(() => 'guide' in window)
    }, 60_000)

    afterAll(async () => {
      await browser?.close()
      if (front) await new Promise((done) => front.server.close(done))
    })

    it('src/auth.ts: signs up (a blocklisted password shown by its field), logs in, tells a taken email', async () => {
      const email = uniqueEmail('guide')
      expect(await guide(page, 'auth.signUp', email, 'Password123')).toEqual({
        password: expect.stringContaining('common'),
      })
      expect(await guide(page, 'auth.signUp', email, PASSWORD)).toEqual({})
      expect(await guide(page, 'auth.signUp', email, PASSWORD)).toEqual({
        form: 'User with this email already exists',
      })
      expect(await guide(page, 'auth.logIn', email, 'wrong password')).toBe('Incorrect email or password')
      expect(await guide(page, 'auth.logIn', email, PASSWORD)).toBeUndefined()
    })

    it('src/claims.ts and src/export.ts: an API of the app, and the download under the API’s name', async () => {
      const me = await page.evaluate(() =>
        (
          window as unknown as { guide: { auth: { auth: { me(): Promise<{ id: number }> } } } }
        ).guide.auth.auth.me(),
      )
      expect(await guide(page, 'claims.whoAmI')).toBe(String(me.id))
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        guide(page, 'export.downloadMyData'),
      ])
      expect(download.suggestedFilename()).toMatch(
        new RegExp(`^account-export-${me.id}-\\d{4}-\\d{2}-\\d{2}\\.json$`),
      )
    })

    it('src/plain.ts: the same without the client', async () => {
      const email = uniqueEmail('guide-plain')
      await guide(page, 'auth.signUp', email, PASSWORD)
      const pair = await guide<{ access_token: string; refresh_token: string }>(
        page,
        'plain.logInPlain',
        email,
        PASSWORD,
      )
      expect(await guide(page, 'plain.mePlain', pair.access_token)).toMatchObject({ email })
      const renewed = await guide<{ access_token: string }>(page, 'plain.refreshPlain', pair.refresh_token)
      expect(await guide(page, 'plain.mePlain', renewed.access_token)).toMatchObject({ email })
    })

    it('src/reset.ts: the reset page sets the new password from the mailed link; the app hears the session end', async () => {
      const email = uniqueEmail('guide-reset')
      expect(await guide(page, 'auth.signUp', email, PASSWORD)).toEqual({})
      await page.evaluate(
        (email) =>
          (
            window as unknown as {
              guide: { auth: { auth: { requestPasswordReset(b: object): Promise<unknown> } } }
            }
          ).guide.auth.auth.requestPasswordReset({ email }),
        email,
      )
      const link = await mailedLink(email, /http:\/\/localhost:5173\/reset-password\?token=[\w-]+/)
      await page.goto(`${front.origin}${new URL(link).pathname}${new URL(link).search}`)
      await page.waitForFunction(() => 'guide' in window)
      expect(await guide(page, 'reset.resetPassword', 'short')).toBe('String should have at least 8 bytes')
      expect(await guide(page, 'reset.resetPassword', 'a new password here')).toBe(
        'Your password is changed: log in with it.',
      )
      expect(await guide(page, 'reset.resetPassword', 'a new password here')).toBe(
        'This link is used or expired: ask for a new one.',
      )
      // Every session ended: the next call finds it so, and the app's handler sends the user to log in.
      await page.evaluate(() =>
        (window as unknown as { guide: { auth: { auth: { me(): Promise<unknown> } } } }).guide.auth.auth
          .me()
          .catch(() => undefined),
      )
      await page.waitForFunction(() => location.pathname === '/login')
      expect(await guide(page, 'auth.logIn', email, 'a new password here')).toBeUndefined()
    })

    it('src/admin.ts: the admin finds an account and suspends it', async () => {
      const email = uniqueEmail('guide-admin')
      expect(await guide(page, 'auth.signUp', email, PASSWORD)).toEqual({})
      const password = readFileSync(join(dataDir, 'admin-password'), 'utf8').trim()
      expect(await guide(page, 'auth.logIn', 'admin@example.com', password)).toBeUndefined()
      const found = await guide<{ items: { id: number; email: string }[]; next: string | null }>(
        page,
        'admin.findAccounts',
        email.slice(0, 20),
      )
      const account = found.items.find((item) => item.email === email)
      expect(account).toBeDefined()
      expect(await guide(page, 'admin.suspend', account?.id)).toMatchObject({ email, is_active: false })
    })
  })

  it('runs the curl flows: every call answers a success', () => {
    const flows = blocks.filter(
      (block) => block.lang === 'sh' && !isStart(block) && !block.text.includes('npm pack'),
    )
    expect(flows.length).toBeGreaterThanOrEqual(5)
    for (const block of flows) runShell(block, repository)
    // The export the reference block saved, under the name the API gave it.
    expect(
      spawnSync('sh', ['-c', 'ls account-export-*.json'], { cwd: repository, encoding: 'utf8' }).stdout,
    ).toMatch(/^account-export-\d+-\d{4}-\d{2}-\d{2}\.json$/m)
  }, 120_000)

  it('runs the jose verifier against the local issuer, with a token of a login', async () => {
    const block = byFile('verify.ts')
    if (!block) throw new Error('the guide has no verify.ts')
    // jose as the service has it installed.
    symlinkSync(join(root, 'node_modules/jose'), join(app, 'node_modules/jose'))
    writeFileSync(join(app, 'verify.ts'), asRun(block))
    // The tests before this one ran processes synchronously for seconds, blocking the event loop: one turn of its
    // timers lets fetch's pool drop the connections it has kept idle past the API's keep-alive, instead of sending on
    // one the API has closed.
    await new Promise((done) => setTimeout(done, 1))
    const email = uniqueEmail('guide-verify')
    const post = (path: string, body: unknown) =>
      fetch(`${api}/api/v1${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
    const user = (await (
      await post('/auth/register', { email, password: 'correct horse battery' })
    ).json()) as {
      id: number
    }
    const { access_token } = (await (
      await post('/auth/login', { email, password: 'correct horse battery' })
    ).json()) as { access_token: string }
    const script = `const { verifyAccessToken } = await import('./verify.ts'); console.log(JSON.stringify(await verifyAccessToken(process.argv[1])))`
    const payload = JSON.parse(
      execFileSync(process.execPath, ['--input-type=module', '-e', script, access_token], {
        cwd: app,
        encoding: 'utf8',
      }),
    )
    expect(payload).toMatchObject({ iss: issuer, aud: 'papa-api', sub: String(user.id) })
    checked.add(block.index)
  })

  // Python is no tool of this project, but CI has it (cfn-lint is one): the Python block is compiled wherever python3
  // is, and CI fails without it.
  const pythonRuns = requiredTool({
    name: 'python3',
    where: 'on the PATH',
    found: spawnSync('python3', ['--version']).status === 0,
    install: "install Python 3 to compile the guide's Python verifier",
  })
  it.runIf(pythonRuns)(
    'compiles the Python verifier (PyJWT itself is not installed where the tests run)',
    () => {
      const python = blocks.filter((block) => block.lang === 'python')
      expect(python).toHaveLength(1)
      for (const block of python) {
        const file = join(workDir, 'verify.py')
        writeFileSync(file, asRun(block))
        const compiled = spawnSync('python3', ['-m', 'py_compile', file], { encoding: 'utf8' })
        expect(compiled.status, compiled.stderr).toBe(0)
        checked.add(block.index)
      }
    },
  )

  it('leaves no block of the guide unchecked', () => {
    const unchecked = blocks
      .filter((block) => !checked.has(block.index))
      .filter((block) => browserRuns || !block.file?.startsWith('src/'))
      .filter((block) => pythonRuns || block.lang !== 'python')
      .map((block) => `${where(block)} (${block.lang}${block.file ? ` ${block.file}` : ''})`)
    expect(unchecked).toEqual([])
  })
})

/** The app's origin: its page with the guide's modules, and `/api/...` passed to the API, as Vite's proxy does. */
async function serveFront(api: string, script: string): Promise<{ server: Server; origin: string }> {
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
    } else if (url === '/app.js') {
      response.writeHead(200, { 'content-type': 'text/javascript' }).end(script)
    } else {
      // Every other path is the app's one page (its router shows /login, /reset-password, …).
      response
        .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        .end('<!doctype html><title>app</title><script type="module" src="/app.js"></script>')
    }
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

/** The link of the newest mail to `email` that MailDev caught, waiting a little for it. */
async function mailedLink(email: string, pattern: RegExp): Promise<string> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const mails = (await (await fetch(`${mail}/api/email`)).json()) as {
      to: { address: string }[]
      text: string
    }[]
    const found = mails
      .filter((each) => each.to.some((to) => to.address === email))
      .map((each) => pattern.exec(each.text)?.[0])
      .filter((link): link is string => link !== undefined)
      .at(-1)
    if (found) return found
    await new Promise((done) => setTimeout(done, 100))
  }
  throw new Error(`no mail to ${email}`)
}
