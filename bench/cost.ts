/**
 * `npm run bench:cost`: what the service costs, computed from the benches' own figures (dist/bench-figures.json from
 * `npm run bench`, dist/scale-figures.json from `npm run bench:scale`), the list prices in bench/prices.json and the
 * usage in bench/usage.json; beside Cognito's and Auth0's list prices for the same monthly active students. Prints
 * Markdown; `--write-docs` also puts it in docs/performance.md.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { type FunctionName, lambdas } from '#functions/routes'
import { INTEGER_SETTINGS } from '#shared/platform/settings'
import {
  auth0Cost,
  cognitoCost,
  type KindFigures,
  monthlyCost,
  type Price,
  type Prices,
  REQUEST_KINDS,
  type RequestKind,
  requestCost,
  type Usage,
} from './cost-model.ts'
import { writeSection } from './docs-section.ts'
import type { BenchFigures } from './figures.ts'
import type { ScaleRun } from './scale-report.ts'
import { median } from './stats.ts'

const ROOT = join(import.meta.dirname, '..')
const { values: flags } = parseArgs({
  options: {
    'bench-figures': { type: 'string', default: join(ROOT, 'dist', 'bench-figures.json') },
    'scale-figures': { type: 'string', default: join(ROOT, 'dist', 'scale-figures.json') },
    prices: { type: 'string', default: join(import.meta.dirname, 'prices.json') },
    usage: { type: 'string', default: join(import.meta.dirname, 'usage.json') },
    'write-docs': { type: 'boolean', default: false },
  },
})

const readJson = async <T>(path: string, madeBy: string): Promise<T> => {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T
  } catch (error) {
    throw new Error(`cannot read ${path} (${(error as Error).message}); run ${madeBy} first`)
  }
}
const bench = await readJson<BenchFigures>(flags['bench-figures'], '`npm run bench`')
const scale = await readJson<ScaleRun>(flags['scale-figures'], '`npm run bench:scale`')
const prices = await readJson<Prices>(flags.prices, 'nothing: it is committed')
const usage = await readJson<Usage>(flags.usage, 'nothing: it is committed')

/** The function that serves each kind of request: its memory is the one configured in functions/routes.ts. */
const FUNCTION_OF: Record<RequestKind, FunctionName> = {
  login: 'login',
  refresh: 'refresh',
  me: 'me',
  sessions: 'list-sessions',
  'password-reset': 'password-reset',
  register: 'register',
}
/** The bench measures bcrypt at a low cost to be quick; a login at the configured cost has the difference added. */
const CONFIGURED_COST = INTEGER_SETTINGS.BCRYPT_COST.default
const compareMs = (cost: number) => {
  const value = bench.bcryptCompareMs[String(cost)]
  if (value === undefined) throw new Error(`the bench figures have no bcrypt compare at cost ${cost}`)
  return value
}
const bcryptExtra = compareMs(CONFIGURED_COST) - compareMs(bench.bcryptCost)
const warm = (name: string) => {
  const figures = bench.warm[name]
  if (!figures) throw new Error(`the bench figures have no warm ${name}`)
  return figures
}
const loaded = (name: RequestKind) => {
  const series = scale.loaded.find((item) => item.endpoint === name)
  if (!series) throw new Error(`the scale figures have no ${name}`)
  return { p50Ms: median(series.endpointMs), roundTrips: median(series.roundTrips) }
}
const COLD_ME = 'me, secrets from Secrets Manager (local fake)'
const coldMe = bench.cold[COLD_ME]
if (!coldMe) throw new Error(`the bench figures have no cold start "${COLD_ME}"`)
// What a cold start adds, as measured for me (the deployed path: secrets from Secrets Manager); the other API
// bundles import as fast within a few milliseconds (docs/performance.md, "bundle").
const coldExtraMs = coldMe.firstResponseMs - warm('me').p50Ms

const measured: Record<RequestKind, { ms: number; roundTrips: number; source: string }> = {
  login: {
    ms: warm('login').p50Ms + bcryptExtra,
    roundTrips: warm('login').roundTrips,
    source: `npm run bench, at cost ${bench.bcryptCost} + (compare at ${CONFIGURED_COST} − at ${bench.bcryptCost})`,
  },
  register: {
    ms: warm('register').p50Ms + bcryptExtra,
    roundTrips: warm('register').roundTrips,
    source: `npm run bench, at cost ${bench.bcryptCost} + (compare at ${CONFIGURED_COST} − at ${bench.bcryptCost})`,
  },
  refresh: { ms: warm('refresh').p50Ms, roundTrips: warm('refresh').roundTrips, source: 'npm run bench' },
  me: { ms: warm('me').p50Ms, roundTrips: warm('me').roundTrips, source: 'npm run bench' },
  sessions: {
    ms: loaded('sessions').p50Ms,
    roundTrips: loaded('sessions').roundTrips,
    source: 'npm run bench:scale, loaded',
  },
  'password-reset': {
    ms: loaded('password-reset').p50Ms,
    roundTrips: loaded('password-reset').roundTrips,
    source: 'npm run bench:scale, loaded',
  },
}
const kinds: KindFigures[] = REQUEST_KINDS.map((kind) => ({
  kind,
  memoryMb: lambdas[FUNCTION_OF[kind]].memoryMb,
  warmMs: measured[kind].ms,
  roundTrips: measured[kind].roundTrips,
  coldExtraMs,
}))
const totalBytes = scale.sizes.reduce((sum, size) => sum + size.totalBytes, 0)
const bytesPerStoredUser = totalBytes / scale.volume.users

const usd = (value: number) => {
  if (value === 0) return '$0'
  if (value < 0.01) return `$${value.toPrecision(2)}`
  if (value < 100) return `$${value.toFixed(2)}`
  return `$${Math.round(value).toLocaleString('en-US')}`
}
const count = (value: number) => Math.round(value).toLocaleString('en-US')
function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)),
  )
  const line = (cells: string[]) =>
    `| ${cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(' | ')} |`
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)]
}

const { assumptions } = usage
const lines: string[] = [
  `From \`npm run bench\` at \`${bench.commit}\` (${bench.date.slice(0, 10)}) and \`npm run bench:scale\` at \`${scale.commit}\` ` +
    `(${count(scale.volume.users)} users), on ${bench.machine.cpus} × ${bench.machine.model}. Prices: bench/prices.json, list prices ` +
    `as published on the dates below${prices.checkedOnline ? '' : `, written down from memory on ${prices.writtenOn} without re-checking them online`}; usage: bench/usage.json.`,
  `Billed duration = local median × ${assumptions.lambdaCoreOverBenchCore} × max(1, 1769 MB ÷ memory) + ` +
    `${assumptions.databaseRoundTripMs} ms per database round trip, rounded up to 1 ms; a cold start adds what the bench ` +
    `measured for \`me\` from process start (${count(coldExtraMs)} ms locally, Lambda bills the init phase) and ` +
    `${assumptions.coldNetworkMs} ms of network. bcrypt at cost ${CONFIGURED_COST}, as configured.`,
  '',
  ...table(
    [
      'Request',
      'Memory',
      'Measured locally',
      'Billed warm / cold',
      'Per million warm',
      'Per million cold',
      'Lambda compute share (warm)',
    ],
    kinds.map((figures) => {
      const warmCost = requestCost(figures, prices, assumptions, false)
      const coldCost = requestCost(figures, prices, assumptions, true)
      return [
        `\`${figures.kind}\``,
        `${figures.memoryMb} MB`,
        `${figures.warmMs.toFixed(figures.warmMs < 10 ? 2 : 0)} ms, ${figures.roundTrips} round trip${figures.roundTrips === 1 ? '' : 's'}`,
        `${warmCost.billedMs} ms / ${coldCost.billedMs} ms`,
        usd(warmCost.total * 1e6),
        usd(coldCost.total * 1e6),
        `${Math.round((warmCost.lambdaCompute / warmCost.total) * 100)}%`,
      ]
    }),
  ),
  '',
]

const tiers = [10_000, 100_000, 1_000_000]
const months = tiers.map((mau) => monthlyCost(mau, kinds, usage, prices, bytesPerStoredUser))
const perStudent = Object.entries(usage.perStudentPerMonth)
  .map(([kind, rate]) => `${rate} ${kind}`)
  .join(', ')
lines.push(
  `A month, per monthly active student: ${perStudent}; ${usage.storedUsersPerMau} stored accounts per active one, ` +
    `each taking ${(bytesPerStoredUser / 1000).toFixed(1)} KB with its rows and indexes (measured by bench:scale).`,
  '',
  ...table(
    ['Per month', ...tiers.map((mau) => `${count(mau)} MAU`)],
    [
      ['Requests', ...months.map((month) => count(month.requests))],
      [
        'Cold starts (share in usage.json)',
        ...months.map(
          (month) => `${count(month.coldStarts)} (${(usage.coldShareByMau[String(month.mau)] ?? 0) * 100}%)`,
        ),
      ],
      ['Lambda compute', ...months.map((month) => usd(month.lambdaCompute))],
      ['Lambda requests', ...months.map((month) => usd(month.lambdaRequests))],
      ['API Gateway (HTTP API)', ...months.map((month) => usd(month.apiGateway))],
      ['CloudWatch Logs ingestion', ...months.map((month) => usd(month.logs))],
      ['Secrets Manager', ...months.map((month) => usd(month.secretsManager))],
      [
        'Neon compute',
        ...months.map(
          (month) =>
            `${usd(month.neonCompute)} (${month.neon.plan}, ${month.neon.computeUnits} CU × ${count(month.neon.hours)} h)`,
        ),
      ],
      [
        'Neon storage',
        ...months.map((month) => `${usd(month.neonStorage)} (${month.storageGb.toFixed(1)} GB)`),
      ],
      ['**This service, total**', ...months.map((month) => `**${usd(month.total)}**`)],
      ['per MAU', ...months.map((month) => usd(month.total / month.mau))],
      [
        `Amazon Cognito Essentials (${prices.cognito.asOf.slice(0, 10)})`,
        ...tiers.map((mau) => usd(cognitoCost(mau, prices.cognito.essentials))),
      ],
      [
        `Amazon Cognito Lite (${prices.cognito.asOf.slice(0, 10)})`,
        ...tiers.map((mau) => usd(cognitoCost(mau, prices.cognito.lite))),
      ],
      [
        `Auth0 B2C Essentials (entry rate, ${prices.auth0.asOf.slice(0, 7)})`,
        ...tiers.map((mau) => {
          const auth0 = auth0Cost(mau, prices.auth0)
          const price = usd(auth0.essentials)
          if (auth0.byQuote) return `by quote (entry rate: ${price})`
          return auth0.free ? `${price} (or the free plan)` : price
        }),
      ],
    ],
  ),
  '',
  'Prices used (USD, us-east-1, list, no free tier):',
  '',
  ...(
    [
      ['Lambda arm64', prices.lambda.armGbSecond],
      ['Lambda requests', prices.lambda.requestsPerMillion],
      ['API Gateway HTTP API', prices.apiGateway.httpRequestsPerMillion],
      ['Secrets Manager secret', prices.secretsManager.secretPerMonth],
      ['Secrets Manager calls', prices.secretsManager.apiCallsPer10k],
      ['CloudWatch Logs', prices.cloudWatchLogs.ingestionPerGb],
      ...Object.entries(prices.neon.plans).flatMap(([plan, neon]) => [
        [`Neon ${plan} compute`, neon.computeUnitHour],
        [`Neon ${plan} storage`, neon.storageGbMonth],
      ]),
    ] as [string, Price][]
  ).map(([name, price]) => `- ${name}: $${price.usd} per ${price.per} (${price.source}, ${price.asOf})`),
  `- Amazon Cognito: Essentials ${prices.cognito.essentials.freeMau.toLocaleString('en-US')} MAU free, then ` +
    `${prices.cognito.essentials.tiers.map((tier) => `$${tier.usdPerMau}`).join(', ')} per MAU; Lite ` +
    `${prices.cognito.lite.tiers.map((tier) => `$${tier.usdPerMau}${tier.upToMau ? ` to ${count(tier.upToMau)}` : ' beyond'}`).join(', ')} ` +
    `(${prices.cognito.source}, ${prices.cognito.asOf})`,
  `- Auth0: free to ${count(prices.auth0.free.maxMau)} MAU; B2C Essentials $${prices.auth0.b2cEssentials.usdPerMonth} a month ` +
    `for ${prices.auth0.b2cEssentials.forMau} MAU, self-serve to ${count(prices.auth0.b2cEssentials.selfServeMaxMau)} MAU, ` +
    `beyond by quote (${prices.auth0.source}, ${prices.auth0.asOf})`,
  '',
)

const report = `${lines.join('\n')}\n`
process.stdout.write(report)
if (flags['write-docs']) {
  await writeSection(join(ROOT, 'docs', 'performance.md'), 'bench:cost', report)
  process.stderr.write('bench:cost: docs/performance.md updated\n')
}
