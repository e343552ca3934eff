/**
 * Handing a mail job to the mail sender: Lambda's asynchronous Invoke, signed, tried again on throttling, faults and
 * a connection that gives no answer, within its deadline; a refusal is final. Against a local HTTP server playing
 * Lambda's endpoint.
 */
import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { createAsyncInvoker } from '#shared/platform/lambda-invoke'

type Reply = (request: IncomingMessage, response: ServerResponse) => void
const servers: ReturnType<typeof createServer>[] = []
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections()
    await new Promise((done) => server.close(done))
  }
})

/** A stand-in for Lambda's endpoint answering each call with the next of `replies` (the last one repeats). */
async function lambda(replies: Reply[]) {
  const calls: { path: string; signed: boolean; type: string | undefined; body: string }[] = []
  const server = createServer(async (request, response) => {
    let body = ''
    for await (const chunk of request) body += chunk
    calls.push({
      path: request.url ?? '',
      signed: String(request.headers.authorization).startsWith('AWS4-HMAC-SHA256 Credential=AKIDTEST/'),
      type: request.headers['x-amz-invocation-type'] as string | undefined,
      body,
    })
    ;(replies[calls.length - 1] ?? (replies.at(-1) as Reply))(request, response)
  })
  servers.push(server)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const invoke = createAsyncInvoker({
    functionName: 'send-mail',
    region: 'eu-west-1',
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' },
    timeoutMs: 1500,
  })
  return { calls, invoke }
}

const status =
  (code: number): Reply =>
  (_, response) =>
    response.writeHead(code, { 'content-type': 'application/json' }).end('{}')
const cut: Reply = (request) => request.socket.destroy()

describe('the asynchronous invocation of the mail sender', () => {
  it('is one signed Event invocation of the function with the payload', async () => {
    const { calls, invoke } = await lambda([status(202)])
    await invoke({ job: 'a-job' })
    expect(calls).toEqual([
      {
        path: '/2015-03-31/functions/send-mail/invocations',
        signed: true,
        type: 'Event',
        body: '{"job":"a-job"}',
      },
    ])
  })

  it('is tried again after throttling, a fault and a connection cut without an answer', async () => {
    const { calls, invoke } = await lambda([status(429), cut, status(202)])
    await invoke({ job: 'b' })
    expect(calls).toHaveLength(3)
  })

  it('gives up after three attempts, with the last failure', async () => {
    const { calls, invoke } = await lambda([status(500)])
    await expect(invoke({ job: 'c' })).rejects.toThrow('Lambda answered 500')
    expect(calls).toHaveLength(3)
  })

  it('takes a refusal as final', async () => {
    const { calls, invoke } = await lambda([status(403), status(202)])
    await expect(invoke({ job: 'd' })).rejects.toThrow('Lambda answered 403')
    expect(calls).toHaveLength(1)
  })
})
