import type { ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { stopStalePostgres } from '#infra/local/local-stack'
import { freePort } from '#infra/local/postgres'
import { type Started, startNpmStart, stopNpmStart } from '#test/helpers/npm-start'

let dataDir: string
const dataDirs: string[] = []
const children: ChildProcess[] = []

afterAll(async () => {
  const exits = children
    .filter((child) => child.exitCode === null && child.signalCode === null)
    .map((child) => new Promise((done) => child.once('exit', done)))
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
  await Promise.all(exits)
  // A killed run leaves its PostgreSQL running on the folder: stopped here, as the next `npm start` would.
  for (const dir of dataDirs) {
    await stopStalePostgres(join(dir, 'pgdata'))
    await rm(dir, { recursive: true, force: true })
  }
})

/** A data folder of the test's own, stopped and removed after the file. */
async function newDataDir(): Promise<string> {
  dataDir = await mkdtemp(join(tmpdir(), 'papa-auth-start-'))
  dataDirs.push(dataDir)
  return dataDir
}

/** The PID in `postmaster.pid`: the PostgreSQL serving the folder, as it wrote itself down. */
async function postgresPid(dir: string): Promise<number> {
  const [pid = ''] = (await readFile(join(dir, 'pgdata', 'postmaster.pid'), 'utf8')).split('\n')
  return Number(pid)
}

/** Whether `pid` runs: it takes a signal (or refuses ours: another user's), and is no zombie waiting to be reaped. */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false
  }
  try {
    // /proc/<pid>/stat: "pid (command) state …"; a stopped server whose parent was killed may linger as Z.
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return true
  }
}

/** Runs `npm start`'s script as a user would, with the test's data folder, until it says where it listens. */
async function start(port: number): Promise<Started> {
  const started = startNpmStart(port, dataDir, { ADMIN_EMAIL: 'root@example.com' })
  return started.then((running) => {
    children.push(running.child)
    return running
  })
}

const stop = (started: Started) => stopNpmStart(started)

const post = (url: string, body: unknown) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

describe('npm start', () => {
  it('serves the API on an embedded PostgreSQL, seeds the admin, and keeps the data across restarts', {
    timeout: 180_000,
  }, async () => {
    await newDataDir()
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
    // The key set is made once and kept, readable by its owner only; the issuer is this server.
    expect((await stat(join(dataDir, 'signing-keys.json'))).mode & 0o777).toBe(0o600)
    const origin = `http://127.0.0.1:${port}`
    const discovery = await fetch(`${origin}/.well-known/openid-configuration`)
    expect(await discovery.json()).toMatchObject({
      issuer: origin,
      jwks_uri: `${origin}/.well-known/jwks.json`,
    })

    // The mail the API sends is caught by the MailDev npm start runs, on the page it names.
    const mailPage = /Mail: (http:\/\/127\.0\.0\.1:\d+)/.exec(first.output())?.[1]
    expect(mailPage).toBeDefined()
    const reset = await post(`${first.base}/auth/password-reset`, { email: 'keeper@example.com' })
    expect(reset.status).toBe(202)
    let caught: { to: { address: string }[]; subject: string; text: string }[] = []
    for (let i = 0; i < 100 && caught.length === 0; i++) {
      caught = (await (await fetch(`${mailPage}/api/email`)).json()) as typeof caught
      if (caught.length === 0) await new Promise((done) => setTimeout(done, 50))
    }
    expect(caught.map((mail) => mail.to[0]?.address)).toEqual(['keeper@example.com'])
    expect(caught[0]?.text).toMatch(/reset-password\?token=[\w-]{43}/)
    const page = await fetch(mailPage as string, { headers: { accept: 'text/html' } })
    expect(page.headers.get('content-type')).toContain('text/html')

    expect(await stop(first)).toBe(0)

    const second = await start(port)
    expect(second.output()).toContain('already existed, left unchanged')
    expect(second.output()).not.toContain(adminPassword)
    const login = await post(`${second.base}/auth/login`, {
      email: 'keeper@example.com',
      password: 'kept across restarts',
    })
    expect(login.status).toBe(200)
    // Signed before the restart, by the key set kept in .local: still valid.
    const before = await fetch(`${second.base}/users/me`, {
      headers: { authorization: `Bearer ${access_token}` },
    })
    expect(before.status).toBe(200)
    const missing = await fetch(`${second.base}/does-not-exist`)
    expect(missing.status).toBe(404)
    expect(await missing.json()).toEqual({ detail: 'Not Found' })
    expect(await stop(second)).toBe(0)
  })

  it('comes up again on the same data after its Node process was killed, with PostgreSQL left running', {
    timeout: 180_000,
  }, async () => {
    const dir = await newDataDir()
    const port = await freePort()

    const first = await start(port)
    const registered = await post(`${first.base}/auth/register`, {
      email: 'survivor@example.com',
      password: 'outlives a crash',
    })
    expect(registered.status).toBe(201)
    const orphan = await postgresPid(dir)
    expect(isRunning(orphan)).toBe(true)

    const killed = new Promise((done) => first.child.once('exit', (_code, signal) => done(signal)))
    first.child.kill('SIGKILL')
    expect(await killed).toBe('SIGKILL')
    // Nothing stopped the database: the kill left it running on the folder, its lock file in place.
    expect(isRunning(orphan)).toBe(true)
    expect(await postgresPid(dir)).toBe(orphan)

    const second = await start(port)
    const health = await fetch(`${second.base}/health`)
    expect(health.status).toBe(200)
    expect(await health.json()).toEqual({ status: 'ok' })
    const login = await post(`${second.base}/auth/login`, {
      email: 'survivor@example.com',
      password: 'outlives a crash',
    })
    expect(login.status).toBe(200)
    const restarted = await postgresPid(dir)
    expect(restarted).not.toBe(orphan)
    expect(isRunning(orphan)).toBe(false)

    expect(await stop(second)).toBe(0)
    expect(isRunning(restarted)).toBe(false)
  })
})
