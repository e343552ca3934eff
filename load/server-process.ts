/**
 * The server side of the load and fault runs, in a process of its own: the local stack as `npm start` builds it
 * (the migrate and seed-admin functions, then the local API Gateway on a free loopback port), on a throwaway
 * embedded PostgreSQL, all in this one process. The parent sets the functions' environment and drives this process
 * over IPC: memory samples, stopping and restarting the database, shutdown.
 */
import { describeError, startLocalStack } from '#infra/local/local-stack'

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
  | {
      type: 'ready'
      port: number
      databaseUrl: string
      wsProxy: string | undefined
      /** What to clean up should this process die: the database folder and the stack's temporary folder. */
      dataDir: string | undefined
      temporaryDir: string | undefined
    }
  | { id: number; type: 'memory'; usage: MemoryUsage }
  | { id: number; type: 'done' }
  | { id: number; type: 'error'; message: string }

const send = (message: StackMessage) => process.send?.(message)

const stack = await startLocalStack({ setup: 'functions', server: { corsOrigins: [] } })

let stopping: Promise<never> | undefined
const shutdown = () => {
  stopping ??= stack.stop().then(() => process.exit(0))
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
      await stack.stopDatabase()
      send({ id: request.id, type: 'done' })
    }
    if (request.type === 'start-database') {
      await stack.startDatabase()
      send({ id: request.id, type: 'done' })
    }
    if (request.type === 'shutdown') {
      send({ id: request.id, type: 'done' })
      await shutdown()
    }
  } catch (error) {
    send({ id: request.id, type: 'error', message: describeError(error) })
  }
})
// The parent went away without asking: leave no database behind.
process.on('disconnect', () => void shutdown())
process.on('SIGINT', () => void shutdown())
process.on('SIGTERM', () => void shutdown())

send({
  type: 'ready',
  port: stack.server?.port ?? 0,
  databaseUrl: stack.databaseUrl,
  wsProxy: stack.wsProxy,
  dataDir: stack.postgres?.dataDir,
  temporaryDir: stack.temporaryDir,
})
