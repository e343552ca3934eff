import { once } from 'node:events'
import { appendFile } from 'node:fs/promises'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type FunctionName, lambdas } from '#functions/routes'
import { lambdaContext } from './event.ts'
import { loadHandler } from './server.ts'

/** An event that failed every attempt, as Lambda hands it to the function's on-failure destination. */
export interface FailedInvocation {
  function: string
  /** The event as it was invoked with (a job id: nothing secret). */
  payload: unknown
  attempts: number
  /** The last attempt's error, by name (its message may carry anything). */
  error: string
  time: string
}

export interface LocalLambdaOptions {
  /**
   * The waits before each retry of a failed asynchronous invocation; Lambda makes two retries (about one and two
   * minutes apart), the local stack the same two, sooner.
   */
  retryDelaysMs?: readonly number[]
  /** A file each failed invocation is appended to (JSON lines): the local failure destination. */
  failureFile?: string | undefined
}

export interface LocalLambda {
  /** `http://127.0.0.1:port`, for `AWS_ENDPOINT_URL_LAMBDA`. */
  endpoint: string
  /** The failure destination: every event that failed all its attempts. */
  failures: FailedInvocation[]
  /** Resolves once no invocation is queued or running (and none is waiting for a retry). */
  idle(): Promise<void>
  close(): Promise<void>
}

const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/

/** Only the functions another function invokes; the API's are reached through the API, the others by operators. */
const invokable = (name: string): name is FunctionName =>
  Object.hasOwn(lambdas, name) && lambdas[name as FunctionName].invokedBy === 'async'

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  for await (const chunk of request) chunks.push(chunk as Buffer)
  const text = Buffer.concat(chunks).toString('utf8')
  return text === '' ? {} : JSON.parse(text)
}

const pause = (milliseconds: number) => new Promise((done) => setTimeout(done, milliseconds))

/**
 * A local stand-in for Lambda's `Invoke` API (the wire protocol the functions' signed fetch speaks) for the functions
 * invoked asynchronously (`invokedBy: 'async'` in routes.ts): `X-Amz-Invocation-Type: Event` is answered 202 at once
 * and the function runs afterwards, in this process, as a Lambda container would run it; a failure is retried twice,
 * then the event goes to the failure destination (`failures`, and `failureFile`). Any other invocation type runs
 * the function and answers its result.
 */
export async function startLocalLambda(options: LocalLambdaOptions = {}): Promise<LocalLambda> {
  const retryDelaysMs = options.retryDelaysMs ?? [1000, 2000]
  const failures: FailedInvocation[] = []
  const running = new Set<Promise<void>>()

  const runAsync = async (name: FunctionName, payload: unknown) => {
    let error: unknown
    for (let attempt = 0; attempt <= retryDelaysMs.length; attempt++) {
      if (attempt > 0) await pause(retryDelaysMs[attempt - 1] ?? 0)
      try {
        await (await loadHandler(name))(payload as never, lambdaContext(name))
        return
      } catch (caught) {
        error = caught
      }
    }
    const failure: FailedInvocation = {
      function: name,
      payload,
      attempts: retryDelaysMs.length + 1,
      error: error instanceof Error ? error.name : typeof error,
      time: new Date().toISOString(),
    }
    failures.push(failure)
    process.stderr.write(
      `local Lambda: ${name} failed ${failure.attempts} times (${failure.error}); its event went to the failure destination${options.failureFile ? ` (${options.failureFile})` : ''}\n`,
    )
    if (options.failureFile)
      await appendFile(options.failureFile, `${JSON.stringify(failure)}\n`).catch(() => {})
  }

  const server = createServer(async (request, response) => {
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) =>
      response.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body))
    const name = INVOKE_PATH.exec(new URL(request.url ?? '/', 'http://localhost').pathname)?.[1]
    if (request.method !== 'POST' || !name) return send(404, { message: 'Not Found' })
    const functionName = decodeURIComponent(name)
    if (!invokable(functionName)) {
      return send(
        404,
        { Type: 'User', message: `Function not found: ${functionName}` },
        {
          'x-amzn-errortype': 'ResourceNotFoundException',
        },
      )
    }
    // Lambda refuses an unsigned call; the signature itself is not checked here (no real credentials locally).
    if (!String(request.headers.authorization ?? '').startsWith('AWS4-HMAC-SHA256 ')) {
      return send(403, { message: 'Missing Authentication Token' })
    }
    let payload: unknown
    try {
      payload = await readJson(request)
    } catch {
      return send(
        400,
        { Type: 'User', message: 'Could not parse request body into json' },
        {
          'x-amzn-errortype': 'InvalidRequestContentException',
        },
      )
    }
    if (request.headers['x-amz-invocation-type'] === 'Event') {
      const run = runAsync(functionName, payload)
      running.add(run)
      void run.finally(() => running.delete(run))
      return send(202, {})
    }
    try {
      send(
        200,
        (await (await loadHandler(functionName))(payload as never, lambdaContext(functionName))) ?? null,
      )
    } catch (error) {
      send(
        200,
        { errorType: error instanceof Error ? error.name : 'Error' },
        { 'x-amz-function-error': 'Unhandled' },
      )
    }
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo

  const idle = async () => {
    while (running.size > 0) await Promise.allSettled([...running])
  }
  return {
    endpoint: `http://127.0.0.1:${port}`,
    failures,
    idle,
    async close() {
      server.closeAllConnections()
      await new Promise((done) => server.close(done))
      await idle()
    },
  }
}
