/** The Markdown report of `npm run bench:scale`: what was loaded, each figure beside its target, and the sizes. */
import type { TableSize } from './scale-load.ts'
import type { ScaleSeries } from './scale-protocol.ts'
import { ms, quantile, seconds, times } from './stats.ts'

export const SCALE_TARGETS = {
  /** Loaded p99 over empty p99, every endpoint. */
  loadedOverEmpty: 1.5,
  /** One cleanup run at steady state (the stale rows of one interval between scheduled runs). */
  steadyCleanupMs: 1000,
  /** API p99 during a cleanup over without. */
  duringOverWithout: 2,
} as const

/** Fewer calls during a cleanup than this (a short run, at a small volume) make no p99 worth judging. */
const MIN_JUDGED_CALLS = 20

export interface CleanupFigures {
  ms: number
  deleted: Record<string, number>
  complete: boolean
  failure?: string
  /** The stale rows the run was given (loaded), per table. */
  stale: Record<string, number>
  budgetMs: number
}

export interface ScaleRun {
  machine: { cpus: number; model: string; node: string; loadAtStart: number; loadAtEnd: number }
  commit: string
  volume: { users: number; sessions: number; refreshTokens: number; events: number; intervalMinutes: number }
  settings: { calls: number; loginCalls: number; warmup: number; bcryptCost: number }
  seconds: number
  loadSeconds: number
  empty: ScaleSeries[]
  loaded: ScaleSeries[]
  steadyCleanup: CleanupFigures
  backlogCleanup: CleanupFigures
  during: { series: ScaleSeries[]; ms: number }
  without: { series: ScaleSeries[]; ms: number }
  sizes: TableSize[]
}

const p50 = (values: readonly number[]) => quantile(values, 0.5)
const p99 = (values: readonly number[]) => quantile(values, 0.99)
const mark = (met: boolean) => (met ? '✅ met' : '❌ missed')
const count = (value: number) => Math.round(value).toLocaleString('en-US')
const megabytes = (bytes: number) =>
  bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${(bytes / 1e6).toFixed(bytes < 1e7 ? 2 : 1)} MB`
const sum = (record: Record<string, number>) => Object.values(record).reduce((a, b) => a + b, 0)

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)),
  )
  const line = (cells: string[]) =>
    `| ${cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(' | ')} |`
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)]
}

/** Loaded p99 against empty p99 for every endpoint: the rows, and whether every one met the target. */
export function latencyComparison(empty: ScaleSeries[], loaded: ScaleSeries[]) {
  return empty.map((before) => {
    const after = loaded.find((item) => item.endpoint === before.endpoint)
    const ratio = p99(after?.endpointMs ?? []) / p99(before.endpointMs)
    return { endpoint: before.endpoint, before, after, ratio, met: ratio <= SCALE_TARGETS.loadedOverEmpty }
  })
}

function cleanupRow(name: string, run: CleanupFigures, target: string, met: boolean): string[] {
  const deleted = sum(run.deleted)
  const byTable = Object.entries(run.deleted)
    .filter(([, rows]) => rows > 0)
    .map(([name, rows]) => `${name} ${count(rows)}`)
    .join(', ')
  return [
    name,
    count(sum(run.stale)),
    run.failure ? `failed: ${run.failure}` : `${count(deleted)}${byTable ? ` (${byTable})` : ''}`,
    ms(run.ms),
    run.failure || run.ms <= 0 ? '' : `${count(deleted / (run.ms / 1000))} rows/s`,
    run.complete ? 'yes' : run.failure ? 'no (failed)' : `no (budget ${seconds(run.budgetMs)} spent)`,
    target,
    mark(met),
  ]
}

export function renderScaleReport(run: ScaleRun): string {
  const { machine, volume, settings } = run
  const lines: string[] = []
  lines.push(
    `At \`${run.commit}\`, \`npm run bench:scale -- --users ${volume.users} --sessions ${volume.sessions} --refresh-tokens ${volume.refreshTokens} --events ${volume.events}\`: ` +
      `${machine.cpus} × ${machine.model}, Node ${machine.node}; load average ${machine.loadAtStart.toFixed(2)} at start, ` +
      `${machine.loadAtEnd.toFixed(2)} at end; ${seconds(run.seconds * 1000)} in all, of which loading ${seconds(run.loadSeconds * 1000)}.`,
    `Latency: ${settings.calls} calls per endpoint (${settings.loginCalls} for login) after ${settings.warmup} unrecorded, each followed by one call of its floor; bcrypt cost ${settings.bcryptCost}.`,
    '',
  )

  const comparison = latencyComparison(run.empty, run.loaded)
  lines.push(
    ...table(
      [
        'Endpoint',
        'Empty p50 / p99',
        'Loaded p50 / p99',
        'Floor p99, empty → loaded',
        'Loaded p99 ÷ empty',
        'DB round trips',
        'Target',
        'Result',
      ],
      comparison.map(({ endpoint, before, after, ratio, met }) => [
        `\`${endpoint}\``,
        `${ms(p50(before.endpointMs))} / ${ms(p99(before.endpointMs))}`,
        `${ms(p50(after?.endpointMs ?? []))} / ${ms(p99(after?.endpointMs ?? []))}`,
        `${before.floor}: ${ms(p99(before.floorMs))} → ${ms(p99(after?.floorMs ?? []))}`,
        times(ratio),
        String(p50(after?.roundTrips ?? [])),
        `≤ ${times(SCALE_TARGETS.loadedOverEmpty)}`,
        mark(met),
      ]),
    ),
    '',
  )

  const steadyMet =
    !run.steadyCleanup.failure &&
    run.steadyCleanup.complete &&
    run.steadyCleanup.ms <= SCALE_TARGETS.steadyCleanupMs
  const backlogMet = !run.backlogCleanup.failure && run.backlogCleanup.complete
  lines.push(
    ...table(
      ['Cleanup run', 'Stale rows loaded', 'Rows deleted', 'Time', 'Rate', 'Complete', 'Target', 'Result'],
      [
        cleanupRow(
          `steady state (${volume.intervalMinutes} minutes of stale rows, the run's interval)`,
          run.steadyCleanup,
          `≤ ${seconds(SCALE_TARGETS.steadyCleanupMs)}`,
          steadyMet,
        ),
        cleanupRow('a day of stale rows', run.backlogCleanup, 'drained in one run', backlogMet),
      ],
    ),
    '',
  )

  lines.push(
    ...table(
      [
        'Endpoint, one call at a time',
        "During the day's cleanup: p50 / p99 (calls)",
        'Without: p50 / p99 (calls)',
        'p99 during ÷ without',
        'Target',
        'Result',
      ],
      run.during.series.map((during) => {
        const without = run.without.series.find((item) => item.endpoint === during.endpoint)?.endpointMs ?? []
        const ratio = p99(during.endpointMs) / p99(without)
        return [
          `\`${during.endpoint}\``,
          `${ms(p50(during.endpointMs))} / ${ms(p99(during.endpointMs))} (${during.endpointMs.length})`,
          `${ms(p50(without))} / ${ms(p99(without))} (${without.length})`,
          times(ratio),
          `≤ ${times(SCALE_TARGETS.duringOverWithout)}`,
          during.endpointMs.length < MIN_JUDGED_CALLS
            ? `too few calls to judge (< ${MIN_JUDGED_CALLS})`
            : mark(ratio <= SCALE_TARGETS.duringOverWithout),
        ]
      }),
    ),
    '',
  )

  lines.push(
    `Table and index sizes after the churn (the day's rows loaded and deleted, no VACUUM since):`,
    '',
    ...table(
      ['Table', 'Rows', 'Table (heap)', 'Indexes', 'Total (with TOAST)'],
      [
        ...run.sizes.map((size) => [
          size.table,
          count(size.rows),
          megabytes(size.heapBytes),
          megabytes(size.indexBytes),
          megabytes(size.totalBytes),
        ]),
        [
          '**all**',
          count(run.sizes.reduce((total, size) => total + size.rows, 0)),
          megabytes(run.sizes.reduce((total, size) => total + size.heapBytes, 0)),
          megabytes(run.sizes.reduce((total, size) => total + size.indexBytes, 0)),
          megabytes(run.sizes.reduce((total, size) => total + size.totalBytes, 0)),
        ],
      ],
    ),
    '',
  )
  return `${lines.join('\n')}\n`
}
