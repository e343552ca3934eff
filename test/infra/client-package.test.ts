/**
 * The front end's client (client/) as an app installs it: built (`npm run build` in client/), laid out in a
 * `node_modules` as `npm pack` would ship it (its `files`), then type-checked by two strict app projects, one with
 * `moduleResolution: bundler` (a Vite app, DOM types, no Node) and one with `nodenext` (a Node app, Node's types, no
 * DOM), imported by plain Node, and weighed against its budget.
 */
import { execFile } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildClient, CLIENT_ROOT, measureClient } from '#client/scripts/build'
import { TARGETS } from '../../bench/report.ts'

const root = resolve(import.meta.dirname, '../..')
const run = promisify(execFile)
let app: string

/** What an app writes: every call, the events, the errors, the storage choices; and what must not compile. */
const APP = `
import {
  ApiError,
  type AuthClient,
  createAuthClient,
  type ErrorBody,
  memoryStorage,
  type TokenStorage,
  type User,
  type UserPage,
} from '@papa-auth/client'

declare const storage: TokenStorage
const auth: AuthClient = createAuthClient({ baseUrl: 'http://127.0.0.1:3000', storage })
createAuthClient({ storage: memoryStorage(), name: 'admin', refreshMarginSeconds: 60, reuseIntervalSeconds: 0 })
createAuthClient()

export async function flow(): Promise<void> {
  const user: User = await auth.register({ email: 'a@b.co', password: 'correct horse', username: null })
  await auth.login({ email: user.email, password: 'correct horse' })
  await auth.passwordGrant({ username: user.email, password: 'correct horse' })
  const me: User = await auth.me()
  const first = (await auth.sessions())[0]
  if (first) await auth.endSession(first.id)
  const answer: Response = await auth.fetch('/api/notes', { method: 'POST', body: JSON.stringify({ me: me.id }) })
  await answer.json()
  const page: UserPage = await auth.request('get', '/api/v1/admin/users', { query: { q: 'ali', is_active: 'true', cursor: undefined } })
  await auth.request('patch', '/api/v1/admin/users/{id}', { path: { id: page.items[0]?.id ?? 1 }, body: { is_active: false } })
  const health = await auth.request('get', '/api/v1/health')
  health.status satisfies 'ok'
  const exported = await auth.exportAccount()
  exported.format satisfies 'papa-auth.account-export'
  const token: string | undefined = await auth.accessToken()
  const refreshed: boolean = await auth.refresh()
  const stop = auth.on('signedOut', ({ reason }) => {
    reason satisfies 'logout' | 'expired' | 'deleted'
  })
  stop()
  auth.on('signedIn', () => undefined)
  void token
  void refreshed
  try {
    await auth.changePassword({ current_password: 'correct horse', new_password: 'another horse' })
  } catch (error) {
    if (error instanceof ApiError) {
      const status: number = error.status
      const wait: number | undefined = error.retryAfter
      const body: ErrorBody | undefined = error.body
      if (body && 'detail' in body && Array.isArray(body.detail)) body.detail[0]?.loc satisfies (string | number)[] | undefined
      if (body && 'error' in body) body.error satisfies 'invalid_request' | 'invalid_grant' | 'unsupported_grant_type'
      void status
      void wait
    }
  }
  await auth.logout()
  auth.close()
}

export async function mistakes(): Promise<void> {
  // @ts-expect-error a path the API does not have
  await auth.request('get', '/api/v1/nope')
  // @ts-expect-error a method the path does not take
  await auth.request('put', '/api/v1/users/me')
  // @ts-expect-error the id is required
  await auth.request('get', '/api/v1/admin/users/{id}')
  // @ts-expect-error the password is required
  await auth.login({ email: 'a@b.co' })
  // @ts-expect-error an event the client does not send
  auth.on('refreshed', () => undefined)
}
`

const STRICT = {
  strict: true,
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
  verbatimModuleSyntax: true,
  noUnusedLocals: true,
  noEmit: true,
  // The client's declarations are checked too, as the app's own code is.
  skipLibCheck: false,
  target: 'es2022',
}

const tsc = join(root, 'node_modules/typescript/bin/tsc')

async function typeCheck(project: string): Promise<string> {
  try {
    await run(process.execPath, [tsc, '-p', join(app, project)], { cwd: app })
    return ''
  } catch (error) {
    return String((error as { stdout?: string }).stdout ?? error)
  }
}

beforeAll(() => {
  app = mkdtempSync(join(tmpdir(), 'papa-auth-client-app-'))
  const installed = join(app, 'node_modules/@papa-auth/client')
  buildClient(join(installed, 'dist'))
  const manifest = JSON.parse(readFileSync(join(CLIENT_ROOT, 'package.json'), 'utf8')) as { files: string[] }
  for (const file of manifest.files.filter((name) => name !== 'dist')) {
    cpSync(join(CLIENT_ROOT, file), join(installed, file))
  }
  cpSync(join(CLIENT_ROOT, 'package.json'), join(installed, 'package.json'))
  // Node's types for the Node app, as an app that depends on @types/node has them.
  mkdirSync(join(app, 'node_modules/@types'), { recursive: true })
  cpSync(join(root, 'node_modules/@types/node'), join(app, 'node_modules/@types/node'), { recursive: true })
  cpSync(join(root, 'node_modules/undici-types'), join(app, 'node_modules/undici-types'), { recursive: true })
  writeFileSync(join(app, 'package.json'), JSON.stringify({ type: 'module', private: true }))
  writeFileSync(join(app, 'app.ts'), APP)
  writeFileSync(
    join(app, 'tsconfig.bundler.json'),
    JSON.stringify({
      compilerOptions: {
        ...STRICT,
        module: 'esnext',
        moduleResolution: 'bundler',
        lib: ['es2022', 'dom'],
        types: [],
      },
      files: ['app.ts'],
    }),
  )
  writeFileSync(
    join(app, 'tsconfig.nodenext.json'),
    JSON.stringify({
      compilerOptions: {
        ...STRICT,
        module: 'nodenext',
        moduleResolution: 'nodenext',
        lib: ['es2022'],
        types: ['node'],
      },
      files: ['app.ts'],
    }),
  )
}, 120_000)

afterAll(() => {
  if (app) rmSync(app, { recursive: true, force: true })
})

describe('the client package, as an app installs it', () => {
  it('type-checks in a strict browser app (moduleResolution bundler, DOM types, no Node)', async () => {
    expect(await typeCheck('tsconfig.bundler.json')).toBe('')
  }, 60_000)

  it('type-checks in a strict Node app (moduleResolution nodenext, Node types, no DOM)', async () => {
    expect(await typeCheck('tsconfig.nodenext.json')).toBe('')
  }, 60_000)

  it('is found wrong when the app is: the checks are not blind', async () => {
    writeFileSync(
      join(app, 'wrong.ts'),
      "import { createAuthClient } from '@papa-auth/client'\ncreateAuthClient({ baseUrl: 3000 })\n",
    )
    writeFileSync(
      join(app, 'tsconfig.wrong.json'),
      JSON.stringify({ extends: './tsconfig.bundler.json', files: ['wrong.ts'] }),
    )
    expect(await typeCheck('tsconfig.wrong.json')).toMatch(/wrong\.ts.*TS2322/)
  }, 60_000)

  it('is imported by plain Node as an ES module, with nothing but what it ships', async () => {
    const { stdout } = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const client = await import('@papa-auth/client'); console.log(Object.keys(client).sort().join(' '))",
      ],
      { cwd: app },
    )
    expect(stdout.trim()).toBe('ApiError createAuthClient memoryStorage')
  })

  it(`ships at most ${TARGETS.clientGzipBytes / 1000} KB minified and gzipped, as npm run bench reports it`, () => {
    const { minifiedBytes, gzipBytes } = measureClient()
    expect(minifiedBytes).toBeGreaterThan(1000)
    expect(gzipBytes).toBeLessThanOrEqual(TARGETS.clientGzipBytes)
  })
})
