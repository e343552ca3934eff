// The cutover function's deployed bundle in a process of its own, as a Lambda container runs it: its environment
// (the database URLs, the proxy) is set by the parent; it imports the bundle, runs one event and sends its figures
// over IPC: the invocation's wall time and the process's peak resident memory (getrusage's maxRSS) once the bundle is
// imported and at the end. Plain JavaScript, so this process does not pay for Node's TypeScript stripping; stdout
// (the function's log line) goes nowhere, as it would go to CloudWatch.
import { pathToFileURL } from 'node:url'

const [bundle, eventJson, timeoutMs] = process.argv.slice(2)
if (!bundle || !eventJson || !timeoutMs)
  throw new Error('usage: cutover-worker.mjs <bundle> <event as JSON> <timeout in ms>')
const rssMb = () => process.resourceUsage().maxRSS / 1024

const { handler } = await import(pathToFileURL(bundle).href)
const before = rssMb()
const started = performance.now()
const report = await handler(JSON.parse(eventJson), {
  getRemainingTimeInMillis: () => Number(timeoutMs) - (performance.now() - started),
})
process.send(
  {
    ms: performance.now() - started,
    maxRssBeforeMb: before,
    maxRssMb: rssMb(),
    outcome: report.outcome,
    legacyRows: report.legacyRows,
    carried: report.conversion.carried,
    undecided: report.undecided.length,
    repointed: report.applied?.repointed.length ?? 0,
    reportBytes: Buffer.byteLength(JSON.stringify(report)),
  },
  () => process.exit(0),
)
