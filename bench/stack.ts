import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { runMigrations } from '#db/migrate'
import { startLocalPostgres } from '#infra/local/postgres'

export interface LocalStack {
  databaseUrl: string
  wsProxy: string
  stop(): Promise<void>
}

/** Reads the first line a child prints, as JSON. */
export async function firstLine<T>(child: ChildProcess): Promise<T> {
  if (!child.stdout) throw new Error('child has no stdout')
  for await (const line of createInterface({ input: child.stdout })) return JSON.parse(line) as T
  throw new Error(`child exited with ${child.exitCode} before answering`)
}

/**
 * A throwaway PostgreSQL (as the tests start one), the WebSocket proxy in a child process, and the committed
 * migrations; everything is deleted on `stop`.
 */
export async function startLocalStack(): Promise<LocalStack> {
  const dataDir = await mkdtemp(join(tmpdir(), 'papa-auth-bench-pg-'))
  const postgres = await startLocalPostgres({ dataDir, persistent: false })
  const child = spawn(
    process.execPath,
    [join(import.meta.dirname, 'ws-proxy-process.ts'), postgres.host, String(postgres.port)],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  )
  const { address } = await firstLine<{ address: string }>(child)
  await runMigrations({ url: postgres.url, wsProxy: address })
  return {
    databaseUrl: postgres.url,
    wsProxy: address,
    async stop() {
      const exited = new Promise((done) => child.once('exit', done))
      child.stdin?.end()
      await exited
      await postgres.stop()
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}
