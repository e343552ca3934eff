/**
 * For `npm run bench:timing`: a relay between the functions that queue mail and the local stack's stand-in for
 * Lambda (`infra/local/lambda-service.ts`), which runs the mail sender in this very process. In AWS the sender runs in
 * a container of its own and cannot slow the request that invoked it; locally its work shares the event loop with the
 * tail of that request. The relay lets the timing run measure the reset request both ways, on the same stack:
 *
 * - `concurrent`: the call goes on to the local Lambda at once and its answer (202, the sender already started) comes
 *   back, as with no relay: the local stack as `npm start` runs it.
 * - `deferred`: the relay answers 202 itself, as Lambda's `Invoke` does, and holds the call; `release` hands it on
 *   once the request is measured, so the mail is still queued, invoked and sent, only never during a sample.
 */
import { once } from 'node:events'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'

export type RelayMode = 'concurrent' | 'deferred'

export interface InvokeRelay {
  /** `http://127.0.0.1:port`: the functions' `AWS_ENDPOINT_URL_LAMBDA`. */
  endpoint: string
  mode: RelayMode
  /** Hands every held call on to the local Lambda, in order, each once it has answered 202. */
  release(): Promise<void>
  close(): Promise<void>
}

/** The request headers Lambda reads: the signature and what it covers, and the invocation type. */
const FORWARDED = /^(authorization|content-type|x-amz-.*)$/

/** The invocation's payload: JSON text (a job id). */
async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of request) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

export async function startInvokeRelay(target: string): Promise<InvokeRelay> {
  const held: (() => Promise<void>)[] = []
  const relay: InvokeRelay = { endpoint: '', mode: 'concurrent', release, close }

  const server = createServer(async (request, response) => {
    const body = await readBody(request)
    const headers = Object.fromEntries(
      Object.entries(request.headers).filter(
        (entry): entry is [string, string] => FORWARDED.test(entry[0]) && typeof entry[1] === 'string',
      ),
    )
    const forward = async () => {
      const answer = await fetch(`${target}${request.url ?? '/'}`, { method: 'POST', headers, body })
      return { status: answer.status, text: await answer.text() }
    }
    if (relay.mode === 'deferred') {
      held.push(async () => {
        const { status } = await forward()
        if (status !== 202) throw new Error(`the local Lambda answered ${status} to a held invocation`)
      })
      response.writeHead(202, { 'content-type': 'application/json' }).end('{}')
      return
    }
    try {
      const { status, text } = await forward()
      response.writeHead(status, { 'content-type': 'application/json' }).end(text)
    } catch {
      response.writeHead(502).end()
    }
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  relay.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  async function release() {
    for (const call of held.splice(0)) await call()
  }
  async function close() {
    await release()
    server.closeAllConnections()
    await new Promise((done) => server.close(done))
  }
  return relay
}
