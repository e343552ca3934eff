import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { startLocalStack } from '#infra/local/local-stack'

const stackModule = resolve(import.meta.dirname, '../../infra/local/local-stack.ts')
const folders: string[] = []

afterAll(async () => {
  for (const folder of folders) await rm(folder, { recursive: true, force: true })
})

async function folder(): Promise<string> {
  const made = await mkdtemp(join(tmpdir(), 'papa-auth-stack-test-'))
  folders.push(made)
  return made
}

/** Starts a stack on `dataDir` in another Node process, then kills that process outright: its PostgreSQL lives on. */
async function abandonStack(dataDir: string): Promise<number> {
  const script = [
    `const { startLocalStack } = await import(${JSON.stringify(stackModule)})`,
    `await startLocalStack({ dataDir: ${JSON.stringify(dataDir)}, setup: 'migrations' })`,
    `process.stdout.write('ready\\n')`,
    'setInterval(() => {}, 1000)',
  ].join('\n')
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  await new Promise<void>((ready, fail) => {
    child.stdout?.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && ready())
    child.once('exit', (code) => fail(new Error(`the stack process exited with ${code}`)))
  })
  const exited = new Promise((done) => child.once('exit', done))
  child.kill('SIGKILL')
  await exited
  return Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0])
}

describe('the local stack', () => {
  it('stops the PostgreSQL a killed run left on its folder, and starts again on the same data', {
    timeout: 120_000,
  }, async () => {
    const dataDir = join(await folder(), 'pgdata')
    const leftBehind = await abandonStack(dataDir)
    // Signal 0 only asks whether the process exists.
    expect(() => process.kill(leftBehind, 0)).not.toThrow()

    const stack = await startLocalStack({ dataDir, setup: 'migrations' })
    try {
      expect(() => process.kill(leftBehind, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }))
      expect(stack.migrations.applied).toBe(0)
      expect(stack.migrations.total).toBeGreaterThan(0)
    } finally {
      await stack.stop()
    }
  })

  it('says in PostgreSQL’s words why it did not start', { timeout: 60_000 }, async () => {
    const dataDir = join(await folder(), 'pgdata')
    await mkdir(dataDir, { mode: 0o700 })
    await writeFile(join(dataDir, 'PG_VERSION'), '18\n')

    // Its words vary (a missing postgresql.conf, or, as root, the folder's owner), but they name the folder.
    const error = await startLocalStack({ dataDir, setup: 'migrations' }).catch((thrown: Error) => thrown)
    expect(error).toBeInstanceOf(Error)
    expect((error as Error).message).toMatch(/^PostgreSQL did not start on /)
    expect((error as Error).message.split(': ').slice(1).join(': ')).toContain(dataDir)
  })
})
