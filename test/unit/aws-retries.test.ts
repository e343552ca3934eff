/**
 * The hand-signed AWS calls retried as the AWS SDKs retry: throttling and faults tried again after a jittered,
 * exponential backoff (longer after throttling), a refusal never. Against a local HTTP server playing Secrets
 * Manager's and Lambda's endpoints, answering 429, 503 or Secrets Manager's throttling error before it answers.
 */
import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { backoffMs } from '#shared/platform/aws-client'
import { createAsyncInvoker } from '#shared/platform/lambda-invoke'
import { SecretsManagerError, secretsManagerFetcher } from '#shared/platform/secrets'

type Reply = (request: IncomingMessage, response: ServerResponse) => void
const servers: ReturnType<typeof createServer>[] = []
afterEach(async () => {
  vi.restoreAllMocks()
  for (const server of servers.splice(0)) {
    server.closeAllConnections()
    await new Promise((done) => server.close(done))
  }
})

/** A stand-in AWS endpoint answering each call with the next of `replies` (the last one repeats); when each came. */
async function endpoint(replies: Reply[]) {
  const arrivals: number[] = []
  const server = createServer(async (request, response) => {
    for await (const _ of request);
    arrivals.push(performance.now())
    ;(replies[arrivals.length - 1] ?? (replies.at(-1) as Reply))(request, response)
  })
  servers.push(server)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, arrivals }
}

const json =
  (status: number, body: object): Reply =>
  (_, response) =>
    response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify(body))
const secretValue = json(200, { SecretString: 'the value' })
/** How Secrets Manager says it is throttling: a 400 with its error type. */
const throttling = json(400, { __type: 'ThrottlingException', message: 'Rate exceeded' })
/**
 * The time between arrivals. Only ever compared with a lower bound, a few ms under the wait: however busy the machine,
 * a timer fires no earlier than its wait after the loop's time when it was set, which is no earlier than the arrival
 * before it; an upper bound would measure the machine's load.
 */
const gaps = (arrivals: number[]) => arrivals.slice(1).map((at, index) => at - (arrivals[index] as number))
/** The waits the code asks for, in order: what an upper bound on a gap would have tried to see, without the load. */
const requestedWaits = () => {
  const timer = vi.spyOn(globalThis, 'setTimeout')
  return () => timer.mock.calls.map(([, ms]) => ms)
}

const credentials = { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' }
const fetcher = (url: string, maxAttempts = 2) =>
  secretsManagerFetcher({
    region: 'eu-west-1',
    credentials,
    endpoint: url,
    attemptTimeoutMs: 1000,
    maxAttempts,
    maxBackoffMs: 500,
  })

describe('backoffMs', () => {
  it('waits a random time up to 100 ms × 2^(retry − 1), 500 ms × 2^(retry − 1) after throttling, within its cap', () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.999_999)
    expect([1, 2, 3].map((retry) => backoffMs(retry, false))).toEqual([99, 199, 399])
    expect([1, 2, 3].map((retry) => backoffMs(retry, true))).toEqual([499, 999, 1999])
    expect(backoffMs(3, true, 700)).toBe(699)
    vi.spyOn(Math, 'random').mockReturnValue(0)
    expect(backoffMs(3, true)).toBe(0)
  })
})

describe('a Secrets Manager read', () => {
  it('is tried again after throttling (a 400 ThrottlingException, or a 429), after the throttled backoff', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.999)
    for (const first of [throttling, json(429, {})]) {
      const stub = await endpoint([first, secretValue])
      expect(await fetcher(stub.url)('the-secret')).toBe('the value')
      expect(stub.arrivals).toHaveLength(2)
      expect(gaps(stub.arrivals)[0]).toBeGreaterThanOrEqual(495)
    }
  })

  it('is tried again after a fault (503), after the shorter backoff', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.999)
    const stub = await endpoint([json(503, { __type: 'InternalServiceError' }), secretValue])
    const waits = requestedWaits()
    expect(await fetcher(stub.url)('the-secret')).toBe('the value')
    expect(stub.arrivals).toHaveLength(2)
    // 0.999 × 100 ms, not the 499 ms a throttled retry waits.
    expect(waits()).toEqual([99])
    expect(gaps(stub.arrivals)[0]).toBeGreaterThanOrEqual(95)
  })

  it('gives up after its attempts with the last answer, and takes a refusal as final', async () => {
    const failing = await endpoint([json(503, { __type: 'InternalServiceError' })])
    await expect(fetcher(failing.url, 3)('the-secret')).rejects.toThrow(
      new SecretsManagerError('InternalServiceError', 503),
    )
    expect(failing.arrivals).toHaveLength(3)
    const refused = await endpoint([json(400, { __type: 'ResourceNotFoundException' }), secretValue])
    await expect(fetcher(refused.url)('the-secret')).rejects.toThrow('ResourceNotFoundException')
    expect(refused.arrivals).toHaveLength(1)
  })
})

describe('an asynchronous Lambda invocation', () => {
  const invoker = (url: string) =>
    createAsyncInvoker({
      functionName: 'send-mail',
      region: 'eu-west-1',
      endpoint: url,
      credentials,
      // Half of what is left caps a wait: at 4 s in all, only a first attempt slower than 3 s would cut the 500 ms.
      timeoutMs: 4000,
    })
  const accepted: Reply = (_, response) => response.writeHead(202).end()

  it('is tried again after a 429 and a 503, with a backoff that grows, and lands', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.999)
    const stub = await endpoint([json(429, {}), json(503, {}), accepted])
    const waits = requestedWaits()
    await invoker(stub.url)({ job: 'a' })
    expect(stub.arrivals).toHaveLength(3)
    // 0.999 × 500 ms after throttling, then 0.999 × 200 ms after the fault (the second retry's base doubled).
    expect(waits()).toEqual([499, 199])
    const [afterThrottling = 0, afterFault = 0] = gaps(stub.arrivals)
    expect(afterThrottling).toBeGreaterThanOrEqual(495)
    expect(afterFault).toBeGreaterThanOrEqual(195)
  })

  it('spreads its retries at random (jitter), so throttled callers do not come back together', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0)
    const stub = await endpoint([json(429, {}), json(429, {}), accepted])
    const waits = requestedWaits()
    await invoker(stub.url)({ job: 'b' })
    expect(stub.arrivals).toHaveLength(3)
    // The wait is the draw times the backoff: a draw of 0 waits nothing, so callers drawing apart come back apart.
    expect(waits()).toEqual([0, 0])
  })
})
