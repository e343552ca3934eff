// One cold start, in the fresh process this file runs in: imports a function's bundle, invokes it once (cold) and
// once more (warm, with a second event), and writes its milestones, in milliseconds since the process started, as
// JSON on fd 3. Every milestone is seen from outside the bundle, which carries nothing for the benchmark: the
// Secrets Manager calls through Node's HTTP diagnostics channels, the database connection through the global
// WebSocket the Neon driver builds its socket from.
// Plain JavaScript, so this process does not pay for Node's TypeScript stripping; stdout is left to the handler.
import { subscribe } from 'node:diagnostics_channel'
import { writeSync } from 'node:fs'
import { pathToFileURL } from 'node:url'

const probeStarted = performance.now()
const [bundle, eventsJson] = process.argv.slice(2)
if (!bundle || !eventsJson)
  throw new Error('usage: cold-start-probe.mjs <bundle> <[cold event, warm event] as JSON>')
const [coldEvent, warmEvent] = JSON.parse(eventsJson)

// The SDK sends GetSecretValue through node:http: note when the first call goes out and when the last is answered.
const secretCalls = new Map()
const isSecretsManager = (request) =>
  /^secretsmanager\./.test(String(request.getHeader('x-amz-target') ?? ''))
subscribe('http.client.request.start', ({ request }) => {
  if (isSecretsManager(request)) secretCalls.set(request, { sent: performance.now() })
})
subscribe('http.client.response.finish', ({ request }) => {
  const call = secretCalls.get(request)
  if (call) call.answered ??= performance.now()
})
// fetch (undici) carries them without the SDK: a signed POST to the JSON API, or a GET to the secrets extension.
const isSecretsFetch = (request) =>
  /x-amz-target[:,]\s*secretsmanager\./i.test(String(request.headers)) ||
  request.path?.startsWith('/secretsmanager/get')
subscribe('undici:request:create', ({ request }) => {
  if (isSecretsFetch(request)) secretCalls.set(request, { sent: performance.now() })
})
subscribe('undici:request:trailers', ({ request }) => {
  const call = secretCalls.get(request)
  if (call) call.answered ??= performance.now()
})

/**
 * Reads what the server sends on a Postgres connection (plain, as the local proxy carries it) and says when its
 * first ReadyForQuery message ('Z') has come: startup and authentication are over, the connection is ready.
 */
function readyForQuery() {
  let pending = Buffer.alloc(0)
  return (data) => {
    if (!(data instanceof ArrayBuffer)) return false
    pending = Buffer.concat([pending, Buffer.from(data)])
    while (pending.length >= 5) {
      if (pending[0] === 0x5a) return true
      const length = 1 + pending.readUInt32BE(1)
      if (pending.length < length) return false
      pending = pending.subarray(length)
    }
    return false
  }
}

// The Neon driver opens its connection with the global WebSocket: note when the first one is created, when its
// upgrade is done, and when Postgres says it is ready. Wrapped on first use only: Node loads its WebSocket client
// (undici, ~20 ms) when `WebSocket` is first read, and a bundle that opens no connection must not pay for it here.
const connection = {}
const instrument = (NativeWebSocket) =>
  class extends NativeWebSocket {
    constructor(...args) {
      super(...args)
      if (connection.created !== undefined) return
      connection.created = performance.now()
      this.addEventListener('open', () => {
        connection.opened ??= performance.now()
      })
      const isReady = readyForQuery()
      this.addEventListener('message', (event) => {
        if (connection.ready === undefined && isReady(event.data)) connection.ready = performance.now()
      })
    }
  }
const nativeDescriptor = Object.getOwnPropertyDescriptor(globalThis, 'WebSocket')
let InstrumentedWebSocket
Object.defineProperty(globalThis, 'WebSocket', {
  configurable: true,
  enumerable: nativeDescriptor?.enumerable ?? false,
  get() {
    InstrumentedWebSocket ??= instrument(
      nativeDescriptor?.get ? nativeDescriptor.get.call(globalThis) : nativeDescriptor?.value,
    )
    return InstrumentedWebSocket
  },
  set(value) {
    Object.defineProperty(globalThis, 'WebSocket', { configurable: true, writable: true, value })
  },
})

const context = (requestId) => ({
  callbackWaitsForEmptyEventLoop: true,
  functionName: 'bench',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:local:000000000000:function:bench',
  memoryLimitInMB: '1024',
  awsRequestId: requestId,
  logGroupName: '/aws/lambda/bench',
  logStreamName: 'bench',
  getRemainingTimeInMillis: () => 10_000,
  done: () => {},
  fail: () => {},
  succeed: () => {},
})

const { handler } = await import(pathToFileURL(bundle).href)
const imported = performance.now()
const first = await handler(coldEvent, context('cold'))
const responded = performance.now()
const second = await handler(warmEvent, context('warm'))
const warmMs = performance.now() - responded

const calls = [...secretCalls.values()]
writeSync(
  3,
  JSON.stringify({
    probeStarted,
    imported,
    responded,
    warmMs,
    socketCreated: connection.created,
    socketOpened: connection.opened,
    databaseReady: connection.ready,
    secretCalls: calls.length,
    secretsSent: calls.length ? Math.min(...calls.map((call) => call.sent)) : undefined,
    secretsAnswered: calls.length ? Math.max(...calls.map((call) => call.answered ?? Number.NaN)) : undefined,
    statusCodes: [first?.statusCode, second?.statusCode],
  }),
)
process.exit(0)
