import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import type { WorkerReply, WorkerRequest } from './lambda-worker.ts'

/** Starts `lambda-worker.ts` with a function's environment; `ask` sends a request and waits for its reply. */
export function startWorker(env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'lambda-worker.ts')], {
    env,
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  })
  const replies: WorkerReply[] = []
  const waiting: ((reply: WorkerReply) => void)[] = []
  child.on('message', (reply: WorkerReply) => {
    const next = waiting.shift()
    if (next) next(reply)
    else replies.push(reply)
  })
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`the Lambda worker exited with ${code}`))),
  )
  exited.catch(() => {})
  const reply = async <T extends WorkerReply['type']>(type: T) => {
    const answer = await Promise.race([
      new Promise<WorkerReply>((resolve) => {
        const queued = replies.shift()
        if (queued) resolve(queued)
        else waiting.push(resolve)
      }),
      exited,
    ])
    if (answer.type === 'error') throw new Error(`Lambda worker: ${answer.message}`)
    if (answer.type !== type) throw new Error(`Lambda worker answered ${answer.type}, expected ${type}`)
    return answer as Extract<WorkerReply, { type: T }>
  }
  return {
    child,
    reply,
    ask: <T extends WorkerReply['type']>(request: WorkerRequest, type: T) => {
      child.send(request)
      return reply(type)
    },
  }
}

/** Asks the worker to close its pool and exit, and waits until it has. */
export const stopWorker = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null) return resolve()
    child.once('exit', () => resolve())
    child.send({ type: 'stop' } satisfies WorkerRequest)
  })
