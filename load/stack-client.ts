import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { stopStalePostgres } from '#infra/local/local-stack'
import { newSigningKeySet } from '#shared/domain/signing-keys'
import type { MemoryUsage, StackMessage, StackRequest } from './server-process.ts'

type Request = StackRequest extends infer R ? (R extends StackRequest ? Omit<R, 'id'> : never) : never

export interface ServerLog {
  /** Structured lines the functions wrote to stderr (warnings and errors), counted by level and message. */
  counts: Map<string, number>
  /** Anything else on stderr (a crash, a driver warning), kept for the report; bounded. */
  other: string[]
}

export interface Stack {
  child: ChildProcess
  base: string
  databaseUrl: string
  wsProxy: string | undefined
  log: ServerLog
  /** How the server process ended, if it ended before `shutdown`: a crash. */
  exit(): string | undefined
  memory(gc: boolean): Promise<MemoryUsage>
  stopDatabase(): Promise<void>
  startDatabase(): Promise<void>
  shutdown(): Promise<void>
}

/** The functions' environment: the caller's, less anything that would point them at another database or secret. */
function stackEnv(settings: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (/^(DATABASE_URL|DATABASE_WS_PROXY|DATABASE_SECRET_|JWT_|ADMIN_|AWS_|CORS_|PORT$)/.test(name)) continue
    env[name] = value
  }
  return {
    ...env,
    JWT_SIGNING_KEYS: JSON.stringify(newSigningKeySet(new Date())),
    ADMIN_EMAIL: 'admin@load.example.com',
    ADMIN_PASSWORD: randomBytes(18).toString('base64url'),
    ...settings,
  }
}

/**
 * Starts `server-process.ts` in a child process (with `--expose-gc`, for retained-heap samples) and waits until it serves.
 * `settings` are added to the functions' environment.
 */
export async function startStack(settings: Record<string, string>): Promise<Stack> {
  const child = spawn(process.execPath, ['--expose-gc', join(import.meta.dirname, 'server-process.ts')], {
    env: stackEnv(settings),
    // The access log (one line per request) goes nowhere, as it would go to CloudWatch; stderr is counted.
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  })
  const log: ServerLog = { counts: new Map(), other: [] }
  if (child.stderr) {
    createInterface({ input: child.stderr }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { level?: string; message?: string }
        const key = `${entry.level ?? '?'}: ${entry.message ?? '?'}`
        log.counts.set(key, (log.counts.get(key) ?? 0) + 1)
      } catch {
        if (log.other.length < 50) log.other.push(line)
      }
    })
  }

  const pending = new Map<
    number,
    { resolve: (message: StackMessage) => void; reject: (error: Error) => void }
  >()
  let nextId = 1
  let ready: ((message: Extract<StackMessage, { type: 'ready' }>) => void) | undefined
  const readyMessage = new Promise<Extract<StackMessage, { type: 'ready' }>>((resolve) => {
    ready = resolve
  })
  child.on('message', (message: StackMessage) => {
    if (message.type === 'ready') return ready?.(message)
    const waiter = pending.get(message.id)
    pending.delete(message.id)
    if (message.type === 'error') waiter?.reject(new Error(`load stack: ${message.message}`))
    else waiter?.resolve(message)
  })
  let exit: string | undefined
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code, signal) => {
      exit = signal ? `signal ${signal}` : `exit code ${code}`
      const error = new Error(
        `the load stack exited (${signal ?? code})${log.other.length ? `:\n${log.other.join('\n')}` : ''}`,
      )
      for (const waiter of pending.values()) waiter.reject(error)
      pending.clear()
      reject(error)
    }),
  )
  exited.catch(() => {})

  const ask = (request: Request) => {
    if (!child.connected) return Promise.reject(new Error(`the load stack is gone (${exit})`))
    const id = nextId++
    const reply = new Promise<StackMessage>((resolve, reject) => pending.set(id, { resolve, reject }))
    child.send({ ...request, id } as StackRequest)
    return reply
  }

  const { port, databaseUrl, wsProxy, dataDir, temporaryDir } = await Promise.race([readyMessage, exited])
  let shutDown = false
  return {
    child,
    base: `http://127.0.0.1:${port}/api/v1`,
    databaseUrl,
    wsProxy,
    log,
    exit: () => (shutDown ? undefined : exit),
    async memory(gc) {
      const reply = await ask({ type: 'memory', gc })
      if (reply.type !== 'memory') throw new Error(`load stack answered ${reply.type} to memory`)
      return reply.usage
    },
    stopDatabase: async () => void (await ask({ type: 'stop-database' })),
    startDatabase: async () => void (await ask({ type: 'start-database' })),
    async shutdown() {
      if (exit === undefined) {
        shutDown = true
        const gone = new Promise((resolve) => child.once('exit', resolve))
        await ask({ type: 'shutdown' }).catch(() => {})
        await gone
        return
      }
      // The server process died: stop the database it left behind and remove its folder ourselves.
      if (dataDir) await stopStalePostgres(dataDir)
      if (temporaryDir) await rm(temporaryDir, { recursive: true, force: true })
    },
  }
}
