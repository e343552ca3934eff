import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import type { WorkerReply, WorkerRequest } from './lambda-worker.ts'

/** What every worker answers with: a tagged message, or an error it caught. */
type Tagged = { type: string } | { type: 'error'; message: string }

/**
 * Starts a worker (`lambda-worker.ts` unless `file` names another in bench/) with a function's environment; `ask`
 * sends a request and waits for its reply.
 */
export function startWorker<Request = WorkerRequest, Reply extends Tagged = WorkerReply>(
  env: NodeJS.ProcessEnv,
  file = 'lambda-worker.ts',
) {
  const child = spawn(process.execPath, [join(import.meta.dirname, file)], {
    env,
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  })
  const replies: Reply[] = []
  const waiting: ((reply: Reply) => void)[] = []
  child.on('message', (reply: Reply) => {
    const next = waiting.shift()
    if (next) next(reply)
    else replies.push(reply)
  })
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`the worker ${file} exited with ${code}`))),
  )
  exited.catch(() => {})
  const reply = async <T extends Reply['type']>(type: T) => {
    const answer = await Promise.race([
      new Promise<Reply>((resolve) => {
        const queued = replies.shift()
        if (queued) resolve(queued)
        else waiting.push(resolve)
      }),
      exited,
    ])
    if (answer.type === 'error' && 'message' in answer) throw new Error(`${file}: ${answer.message}`)
    if (answer.type !== type) throw new Error(`${file} answered ${answer.type}, expected ${type}`)
    return answer as Extract<Reply, { type: T }>
  }
  return {
    child,
    reply,
    ask: <T extends Reply['type']>(request: Request, type: T) => {
      child.send(request as object)
      return reply(type)
    },
  }
}

/** A started worker, as `startWorker` returns it. */
export type Worker<Request = WorkerRequest, Reply extends Tagged = WorkerReply> = ReturnType<
  typeof startWorker<Request, Reply>
>

/** Asks the worker to close its pool and exit, and waits until it has. */
export const stopWorker = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null) return resolve()
    child.once('exit', () => resolve())
    child.send({ type: 'stop' } satisfies WorkerRequest)
  })
