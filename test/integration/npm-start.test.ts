import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { freePort } from '#infra/local/postgres'

const root = resolve(import.meta.dirname, '../..')
let dataDir: string
const children: ChildProcess[] = []

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
  if (dataDir) await rm(dataDir, { recursive: true, force: true })
})

interface Started {
  child: ChildProcess
  output: () => string
  base: string
}

/** Runs `npm start`'s script as a user would, with its own data folder, until it says where it listens. */
async function start(port: number): Promise<Started> {
  const child = spawn(process.execPath, ['infra/local/start.ts'], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PORT: String(port),
      LOCAL_DATA_DIR: dataDir,
      ADMIN_EMAIL: 'root@example.com',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  let output = ''
  child.stdout?.on('data', (chunk) => (output += chunk))
  child.stderr?.on('data', (chunk) => (output += chunk))
  await new Promise<void>((resolveStart, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start did not come up:\n${output}`)), 90_000)
    const check = () => {
      if (output.includes('Ctrl-C stops')) {
        clearTimeout(timer)
        resolveStart()
      }
    }
    child.stdout?.on('data', check)
    child.on('exit', () => reject(new Error(`npm start exited:\n${output}`)))
  })
  return { child, output: () => output, base: `http://127.0.0.1:${port}/api/v1` }
}

async function stop({ child }: Started): Promise<number | null> {
  const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)))
  child.kill('SIGINT')
  return exited
}

const post = (url: string, body: unknown) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

describe('npm start', () => {
  it('serves the API on an embedded PostgreSQL, seeds the admin, and keeps the data across restarts', {
    timeout: 180_000,
  }, async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'papa-auth-start-'))
    const port = await freePort()

    const first = await start(port)
    expect(first.output()).toContain(`listening on http://127.0.0.1:${port}/api/v1`)
    expect(first.output()).toContain('root@example.com (created)')
    const adminPassword = (await readFile(join(dataDir, 'admin-password'), 'utf8')).trim()
    expect(first.output()).toContain(adminPassword)

    const registered = await post(`${first.base}/auth/register`, {
      email: 'Keeper@Example.com',
      password: 'kept across restarts',
    })
    expect(registered.status).toBe(201)

    const form = await fetch(`${first.base}/auth/token`, {
      method: 'POST',
      body: new URLSearchParams({ username: 'root@example.com', password: adminPassword }),
    })
    expect(form.status).toBe(200)
    const { access_token } = (await form.json()) as { access_token: string }
    const admin = await fetch(`${first.base}/users/me`, {
      headers: { authorization: `Bearer ${access_token}` },
    })
    expect(await admin.json()).toMatchObject({ email: 'root@example.com', is_superuser: true })

    expect(await stop(first)).toBe(0)

    const second = await start(port)
    expect(second.output()).toContain('already existed, left unchanged')
    expect(second.output()).not.toContain(adminPassword)
    const login = await post(`${second.base}/auth/login`, {
      email: 'keeper@example.com',
      password: 'kept across restarts',
    })
    expect(login.status).toBe(200)
    const missing = await fetch(`${second.base}/does-not-exist`)
    expect(missing.status).toBe(404)
    expect(await missing.json()).toEqual({ detail: 'Not Found' })
    expect(await stop(second)).toBe(0)
  })
})
