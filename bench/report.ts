import type { BundleFigures } from './bundles.ts'
import type { ColdStartFigures } from './cold-start.ts'
import type { LatencySeries } from './lambda-worker.ts'
import { kb, median, ms, quantile, times } from './stats.ts'
import type { ThroughputFigures } from './throughput.ts'

export const TARGETS = {
  bundleBytes: 300_000,
  /** The front end's client (client/), minified and gzipped, without its generated types (issue 26). */
  clientGzipBytes: 5000,
  initOverNodeMs: 50,
  meOverSelect1: 1.5,
  /** `GET /users/me/preferences` (row-level security, issue 27) over `me`. */
  preferencesOverMe: 1.5,
  loginOverCompare: 1.05,
  /** `me` over the local HTTP server, 10 at a time (issue 15: ≥ 10× the seed's FastAPI backend, 2 cores). */
  throughputPerSecond: 3400,
}

export interface BenchRun {
  machine: { cpus: number; model: string; node: string; loadAtStart: number; loadAtEnd: number }
  settings: { calls: number; warmup: number; initRuns: number; coldRuns: number; bcryptCost: number }
  seconds: number
  bundles: {
    node: BundleFigures
    bundles: BundleFigures[]
    client: { minifiedBytes: number; gzipBytes: number }
  }
  coldStarts: ColdStartFigures[]
  series: LatencySeries[]
  /** One bcrypt compare at the default cost (12), a few times. */
  defaultCostCompareMs: number[]
  throughput: ThroughputFigures[]
}

interface Row {
  area: string
  subject: string
  measured: string
  baseline?: string
  ratio?: string
  trips?: string
  target?: string
  /** Present when the row has a target. */
  met?: boolean
  /** The Result cell, when one row carries more than one target. */
  result?: string
}

const COLUMNS: [keyof Row, string][] = [
  ['area', 'Area'],
  ['subject', 'Subject'],
  ['measured', 'Measured'],
  ['baseline', 'Floor / baseline (same run)'],
  ['ratio', 'Ratio / net'],
  ['trips', 'DB round trips'],
  ['target', 'Target'],
  ['met', 'Result'],
]

const signed = (value: number) => (value < 0 ? `−${ms(-value)}` : `+${ms(value)}`)
const mark = (met: boolean) => (met ? '✅ met' : '❌ missed')
const cell = (row: Row, key: keyof Row) => {
  if (key === 'result') return ''
  if (key === 'met') return row.result ?? (row.met === undefined ? '' : mark(row.met))
  return String(row[key] ?? '')
}

function markdownTable(rows: Row[]): string[] {
  const header = Object.fromEntries(COLUMNS) as Record<keyof Row, string>
  const cells = rows.map((row) => COLUMNS.map(([key]) => cell(row, key)))
  const widths = COLUMNS.map(([key], column) =>
    Math.max(header[key].length, ...cells.map((line) => line[column]?.length ?? 0)),
  )
  const line = (values: string[]) =>
    `| ${values.map((value, column) => value.padEnd(widths[column] ?? 0)).join(' | ')} |`
  return [
    line(COLUMNS.map(([key]) => header[key])),
    line(widths.map((width) => '-'.repeat(width))),
    ...cells.map(line),
  ]
}

function bundleRows(run: BenchRun): Row[] {
  const { node, bundles } = run.bundles
  const hello = bundles.find((bundle) => bundle.kind === 'baseline')
  const rows: Row[] = [{ area: 'bundle', subject: '`node -e 0`', measured: `init ${ms(node.initMs)}` }]
  if (hello) {
    rows.push({
      area: 'bundle',
      subject: 'hello-world',
      measured: `${kb(hello.rawBytes)} (gzip ${kb(hello.gzipBytes)}); init ${ms(hello.initMs)}`,
      baseline: `node -e 0: ${ms(node.initMs)}`,
      ratio: signed(hello.initMs - node.initMs),
    })
  }
  const { client } = run.bundles
  rows.push({
    area: 'bundle',
    subject: '`@papa-auth/client` (client/, for front ends)',
    measured: `${kb(client.minifiedBytes)} minified (gzip ${kb(client.gzipBytes)}), every call; its generated types weigh nothing`,
    target: `≤ ${TARGETS.clientGzipBytes / 1000} KB gzipped`,
    met: client.gzipBytes <= TARGETS.clientGzipBytes,
  })
  for (const bundle of bundles) {
    if (bundle.kind === 'baseline') continue
    const net = bundle.initMs - node.initMs
    const sizeMet = bundle.rawBytes <= TARGETS.bundleBytes
    const initMet = net <= TARGETS.initOverNodeMs
    const api = bundle.kind === 'api'
    rows.push({
      area: 'bundle',
      subject: api ? `\`${bundle.name}\`` : `\`${bundle.name}\` (not behind the API)`,
      measured: `${kb(bundle.rawBytes)} (gzip ${kb(bundle.gzipBytes)})${bundle.dataBytes > 0 ? ` + ${kb(bundle.dataBytes)} of data files` : ''}; init ${ms(bundle.initMs)}${bundle.inline ? ` (${ms(bundle.inline.initMs)} with inline secrets)` : ''}`,
      baseline: `node -e 0: ${ms(node.initMs)}`,
      ratio: signed(net),
      target: api ? `≤ ${TARGETS.bundleBytes / 1000} KB; init ≤ +${TARGETS.initOverNodeMs} ms` : 'none',
      ...(api ? { met: sizeMet && initMet, result: `${mark(sizeMet)} size; ${mark(initMet)} init` } : {}),
    })
  }
  return rows
}

/** The cold-start floors and the scenario the target is about, by their names in bench/run.ts. */
export const COLD = {
  hello: 'hello-world',
  connection: 'one database connection (SELECT 1)',
  me: 'me, secrets from Secrets Manager (local fake)',
} as const

/**
 * `me`, cold, with its secrets from Secrets Manager: its first response against two hello-world first responses plus
 * one database connection, where the connection is what a process that only opens one (and runs `SELECT 1`) takes
 * beyond hello-world: loading the WebSocket client, the upgrade, startup and authentication, one round trip.
 */
export function coldTarget(
  run: BenchRun,
): { limit: number; measured: number; hello: number; connection: number } | undefined {
  const find = (name: string) => run.coldStarts.find((cold) => cold.name === name)
  const hello = find(COLD.hello)
  const connection = find(COLD.connection)
  const me = find(COLD.me)
  if (!hello || !connection || !me) return undefined
  const connectionMs = connection.firstResponse - hello.firstResponse
  return {
    limit: 2 * hello.firstResponse + connectionMs,
    measured: me.firstResponse,
    hello: hello.firstResponse,
    connection: connectionMs,
  }
}

function coldStartRows(run: BenchRun): Row[] {
  const target = coldTarget(run)
  const targetRows: Row[] = target
    ? [
        {
          area: 'cold start',
          subject: '`me` cold, secrets from Secrets Manager: first response',
          measured: ms(target.measured),
          baseline: `2 × hello-world ${ms(target.hello)} + one connection ${ms(target.connection)} = ${ms(target.limit)}`,
          ratio: times(target.measured / target.limit),
          target: '≤ 2 × hello-world + one connection',
          met: target.measured <= target.limit,
        },
      ]
    : []
  return targetRows.concat(
    run.coldStarts.flatMap((cold): Row[] => {
      const relative = (value: number) =>
        value < 0 ? `${ms(-value)} before the invoke` : `${ms(value)} into the request`
      const secrets =
        cold.secretCallsPerProcess === undefined
          ? ''
          : `; ${cold.secretCallsPerProcess} GetSecretValue calls per process, for 2 requests: the first sent ${relative(cold.secretsStartVsInvoke)}, the last answered ${ms(cold.secrets)} later`
      return [
        {
          area: 'cold start',
          subject: `${cold.name}: first response`,
          measured: `${ms(cold.firstResponse)} after process start`,
          baseline: `warm request: ${ms(cold.warmRequest)}`,
          ratio: `first request ${times(cold.firstRequest / cold.warmRequest)}`,
        },
        {
          area: 'cold start',
          subject: `${cold.name}: init`,
          measured: `Node ${ms(cold.bootstrap)} + import ${ms(cold.import)}${secrets}`,
        },
        {
          area: 'cold start',
          subject: `${cold.name}: first request`,
          measured: `${ms(cold.firstRequest)}; the connection took ${ms(cold.connection)} (WebSocket upgrade ${ms(cold.upgrade)}): opened ${relative(cold.connectionStartVsInvoke)}, ready ${relative(cold.connectionReadyVsInvoke)}, answered ${ms(cold.firstRequest - Math.max(0, cold.connectionReadyVsInvoke))} later`,
        },
      ]
    }),
  )
}

function latencyRows(run: BenchRun): Row[] {
  const rows: Row[] = []
  for (const item of run.series) {
    if (item.part) continue
    const p50 = quantile(item.endpointMs, 0.5)
    const floorP50 = quantile(item.floorMs, 0.5)
    const ratio = p50 / floorP50
    const target = {
      me: TARGETS.meOverSelect1,
      login: TARGETS.loginOverCompare,
      preferences: TARGETS.preferencesOverMe,
    }[item.endpoint]
    rows.push({
      area: 'warm',
      subject: `\`${item.endpoint}\` p50 / p99`,
      measured: `${ms(p50)} / ${ms(quantile(item.endpointMs, 0.99))}`,
      baseline: `${item.floor}: ${ms(floorP50)} / ${ms(quantile(item.floorMs, 0.99))}`,
      ratio: times(ratio),
      trips: [...new Set(item.roundTrips)].sort((a, b) => a - b).join('–'),
      ...(target === undefined ? {} : { target: `p50 ≤ ${times(target)}`, met: ratio <= target }),
    })
  }
  return rows
}

/**
 * The local API Gateway server as `npm start` runs it, but: the proxy runs in a process of its own (in-process under
 * `npm start`) and the access log goes nowhere. The client is wrk when it is installed, as the target is stated
 * (`wrk -c10` against the local stack); otherwise this process's Node client, heavier, on the same cores.
 */
function throughputRows(run: BenchRun): Row[] {
  return run.throughput.map((item) => {
    const target = item.concurrency === 10 ? TARGETS.throughputPerSecond : undefined
    return {
      area: 'throughput',
      subject: `\`me\` over HTTP, ${item.concurrency} at a time`,
      measured: `${item.perSecond.toFixed(0)} requests/s (p50 ${ms(item.p50Ms)}, p99 ${ms(item.p99Ms)})`,
      baseline: `${item.requests} requests in ${item.seconds.toFixed(1)} s; ${item.client === 'wrk' ? 'wrk -t2' : 'Node client (wrk not installed)'}, proxy in its own process`,
      ...(target === undefined ? {} : { target: `≥ ${target} requests/s`, met: item.perSecond >= target }),
    }
  })
}

/** The table, every figure beside its floor or baseline and each target marked, then the closing note. */
export function renderReport(run: BenchRun): string {
  const { machine, settings } = run
  const rows = [...bundleRows(run), ...coldStartRows(run), ...latencyRows(run), ...throughputRows(run)]
  const intro = [
    `${machine.cpus} × ${machine.model}, Node ${machine.node}; load average ${machine.loadAtStart.toFixed(2)} at start, ${machine.loadAtEnd.toFixed(2)} at end; ${run.seconds.toFixed(0)} s in all.`,
    `Init: median of ${settings.initRuns} fresh processes. Cold start: median of ${settings.coldRuns}. Warm: ${settings.calls} calls per endpoint, after ${Math.max(settings.warmup, 200)} unrecorded ones (${settings.warmup} for the bcrypt endpoints), each call followed by one call of its floor; bcrypt cost ${settings.bcryptCost} on both sides. 1 KB = 1000 bytes.`,
    '',
  ]
  return `${[...intro, ...markdownTable(rows), '', ...closingNote(run, rows)].join('\n')}\n`
}

function closingNote(run: BenchRun, rows: Row[]): string[] {
  const missed = rows.filter((row) => row.met === false)
  if (missed.length === 0) return ['Every target was met in this run.']
  const notes: string[] = ['What holds back each missed target:']
  const node = run.bundles.node.initMs
  const api = run.bundles.bundles.filter((bundle) => bundle.kind === 'api')
  const hello = run.bundles.bundles.find((bundle) => bundle.kind === 'baseline')

  const oversized = api.filter((bundle) => bundle.rawBytes > TARGETS.bundleBytes)
  const largest = [...oversized].sort((a, b) => b.rawBytes - a.rawBytes)[0]
  if (largest) {
    const parts = largest.packages
      .slice(0, 7)
      .map((item) => `${item.name} ${kb(item.bytes)}`)
      .join(', ')
    const aws = largest.packages
      .filter((item) => /^@(aws-sdk|smithy|aws)\//.test(item.name))
      .reduce((sum, item) => sum + item.bytes, 0)
    notes.push(
      `- Size: ${oversized.length} of ${api.length} API bundles are over ${TARGETS.bundleBytes / 1000} KB. The largest, \`${largest.name}\` (${kb(largest.rawBytes)}), is ${parts}, …${aws > 0 ? ` The AWS SDK's packages come to ${kb(aws)}.` : ''}`,
    )
  }

  const slow = api.filter((bundle) => bundle.initMs - node > TARGETS.initOverNodeMs)
  if (slow.length > 0) {
    const example = api.find((bundle) => bundle.inline) ?? slow[0]
    notes.push(
      `- Init: ${slow.length} of ${api.length} API bundles took more than ${TARGETS.initOverNodeMs} ms over \`node -e 0\`. In \`${example?.name}\` the import itself took ${ms(example?.importMs ?? Number.NaN)} (hello-world's: ${ms(hello?.importMs ?? Number.NaN)}): V8 compiles all ${kb(example?.rawBytes ?? 0)}, and the container build that the import starts opens the first database connection, which loads Node's WebSocket client (undici, and the built-ins it needs: tls, http2, zlib, …).`,
    )
  }

  const { client } = run.bundles
  if (client.gzipBytes > TARGETS.clientGzipBytes) {
    notes.push(
      `- The client: ${kb(client.gzipBytes)} gzipped against ${TARGETS.clientGzipBytes / 1000} KB; \`npm run build\` in client/ writes the unminified bundle, to see what grew.`,
    )
  }

  const cold = coldTarget(run)
  if (cold && cold.measured > cold.limit) {
    const me = run.coldStarts.find((item) => item.name === COLD.me)
    if (me) {
      notes.push(
        `- \`me\` cold with Secrets Manager (${ms(cold.measured)} against ${ms(cold.limit)}): Node's start ${ms(me.bootstrap)}, the import ${ms(me.import)} (hello-world's whole first response: ${ms(cold.hello)}), the secrets ${ms(me.secrets)} (first sent ${ms(me.secretsStartVsInvoke)} into the request), the connection ${ms(me.connection)} after them (a connection needs the database secret's URL), then the query.`,
      )
    }
  }

  const series = new Map(run.series.map((item) => [item.endpoint, item]))
  const p50 = (name: string) => median(series.get(name)?.endpointMs ?? [])
  const missedWarm = (endpoint: string) =>
    missed.some((row) => row.area === 'warm' && row.subject.startsWith(`\`${endpoint}\``))
  if (missedWarm('me')) {
    const select1 = median(series.get('me')?.floorMs ?? [])
    notes.push(
      `- \`me\` (${ms(p50('me'))} against ${ms(select1)} for SELECT 1): its one statement, the user by id with 8 columns, takes ${ms(p50('me: the same SELECT, raw'))} as raw SQL, ${ms(p50('me: the same SELECT, prepared once'))} as a named prepared statement, ${ms(p50('me: sessions.findUser (its one statement)'))} as the session repository builds it (with the session check), and ${ms(p50('me: the same query, prepared once in drizzle'))} as a drizzle prepared query; verifying the token takes ${ms(p50('me: verify the access token'))} (node:crypto on the event loop; jose's jwtVerify, through WebCrypto, with the key imported once: ${ms(p50('me: verify it with jose (jwtVerify, key imported once)'))}). That leaves ${ms(p50('me') - p50('me: sessions.findUser (its one statement)') - p50('me: verify the access token'))} for the middleware stack and the access log line.`,
    )
  }
  if (missedWarm('login')) {
    const login = series.get('login')
    const overhead = p50('login') - median(login?.floorMs ?? [])
    const atDefault = median(run.defaultCostCompareMs)
    notes.push(
      `- \`login\` (${ms(p50('login'))} against ${ms(median(login?.floorMs ?? []))} for one compare at cost ${run.settings.bcryptCost}): the ${ms(overhead)} besides the compare are its ${median(login?.roundTrips ?? [])} statements (a read, like the user by email as raw SQL: ${ms(p50('login: the user by email, raw'))}; a write, like one raw INSERT with its commit: ${ms(p50('login: one INSERT and its commit, raw'))}, the commit waiting for the WAL to reach the disk), signing the access token (${ms(p50('login: sign the access token'))}), drizzle and the middleware stack. At the default cost 12 (one compare: ${ms(atDefault)} here) the same overhead would make it ${times((atDefault + overhead) / atDefault)}.`,
    )
  }
  if (missed.some((row) => row.area === 'throughput')) {
    notes.push(
      `- Throughput: the server, PostgreSQL, the proxy and the client share ${run.machine.cpus} cores (and whatever else the machine runs: load average ${run.machine.loadAtEnd.toFixed(2)} at the end)${run.throughput.some((item) => item.client === 'node') ? '; the target is for `wrk -t2 -c10`, whose client costs far less than this Node one (install wrk and run again)' : ''}.`,
    )
  }
  return notes
}
