// One cold start, in the fresh process this file runs in: imports a function's bundle, invokes it once (cold) and
// once more (warm, with a second event), and writes its milestones, in milliseconds since the process started, as JSON on fd 3.
// Plain JavaScript, so this process does not pay for Node's TypeScript stripping; stdout is left to the handler.
import { writeSync } from 'node:fs'
import { pathToFileURL } from 'node:url'

const probeStarted = performance.now()
const [bundle, eventsJson] = process.argv.slice(2)
if (!bundle || !eventsJson)
  throw new Error('usage: cold-start-probe.mjs <bundle> <[cold event, warm event] as JSON>')
const [coldEvent, warmEvent] = JSON.parse(eventsJson)

// The Neon driver opens its connection with the global WebSocket: note when the first one is created.
let socketCreated
const NativeWebSocket = globalThis.WebSocket
globalThis.WebSocket = class extends NativeWebSocket {
  constructor(...args) {
    super(...args)
    socketCreated ??= performance.now()
  }
}

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

const marks = Object.fromEntries(
  performance.getEntriesByType('mark').map((mark) => [mark.name, mark.startTime]),
)
writeSync(
  3,
  JSON.stringify({
    probeStarted,
    imported,
    responded,
    warmMs,
    socketCreated,
    marks,
    statusCodes: [first?.statusCode, second?.statusCode],
  }),
)
process.exit(0)
