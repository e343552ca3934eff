import { mb, ms, percent, seconds } from '../bench/stats.ts'
import type { FaultTimeline, MemoryVerdict, OperationFigures } from './analysis.ts'

export interface Check {
  guarantee: string
  result: string
  met: boolean
}

export interface LoadReport {
  title: string
  machine: { cpus: number; model: string; node: string; loadBefore: number; loadAfter: number }
  settings: string[]
  elapsedMs: number
  operations: OperationFigures[]
  total: OperationFigures
  memory: MemoryVerdict
  memoryJudged: boolean
  timeline?: FaultTimeline | undefined
  slices?: { fromMs: number; ok: number; unavailable: number; other: number }[] | undefined
  serverLog: [string, number][]
  checks: Check[]
}

const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`
const at = (value: number | undefined) => (value === undefined ? 'never' : `t=${seconds(value)}`)

/** The run as Markdown: settings, per-operation figures, memory, the outage if any, and each guarantee met or not. */
export function renderReport(report: LoadReport): string {
  const { machine, memory } = report
  const lines = [
    `## ${report.title}`,
    '',
    `${machine.cpus} × ${machine.model}, Node ${machine.node}; load average ${machine.loadBefore.toFixed(2)} before, ` +
      `${machine.loadAfter.toFixed(2)} after.`,
    '',
    ...report.settings.map((setting) => `- ${setting}`),
    '',
    row([
      'operation',
      'requests',
      'expected',
      '429',
      '503',
      'other 5xx',
      'no answer',
      'wrong',
      'req/s',
      'p50',
      'p99',
      'max',
    ]),
    row(Array(12).fill('---')),
    ...[...report.operations, report.total].map((f) =>
      row([
        f === report.total ? '**all**' : f.operation,
        f.requests,
        f.ok,
        f.tooMany,
        f.unavailable,
        f.serverErrors,
        f.noResponse,
        f.unexpected,
        f.perSecond.toFixed(1),
        ms(f.p50),
        ms(f.p99),
        ms(f.max),
      ]),
    ),
    '',
    `Latencies are those of the expected answers, from request sent to body received, over ${seconds(report.elapsedMs)}.`,
    '',
    row(['server process', 'start', 'end', 'max']),
    row(['---', '---', '---', '---']),
    row(['RSS', mb(memory.rss.start), mb(memory.rss.end), mb(memory.rss.max)]),
    row([
      'heapUsed (sampled each second)',
      mb(memory.heapUsed.start),
      mb(memory.heapUsed.end),
      mb(memory.heapUsed.max),
    ]),
    row([
      'retained heap (after a full GC)',
      mb(memory.retained.start),
      mb(memory.retained.end),
      mb(memory.retained.max),
    ]),
    '',
    memory.growth === undefined || memory.baseline === undefined || memory.final === undefined
      ? 'Retained heap: the run is too short to compare the end with the end of the warm-up.'
      : `Retained heap after the warm-up ${mb(memory.baseline)}, at the end ${mb(memory.final)}: ` +
        `${percent(memory.growth)} (tolerance ${percent(memory.tolerance)}${report.memoryJudged ? '' : ', not judged in a fault run'}). ` +
        (memory.rssBaseline !== undefined && memory.rssFinal !== undefined
          ? `RSS over the same windows: ${mb(memory.rssBaseline)}, then ${mb(memory.rssFinal)} (${percent((memory.rssFinal - memory.rssBaseline) / memory.rssBaseline)}; reported, not judged).`
          : ''),
  ]
  const timeline = report.timeline
  if (timeline) {
    lines.push(
      '',
      row(['outage', 'when']),
      row(['---', '---']),
      row(['database stop requested', at(timeline.stopRequestedMs)]),
      row(['database stopped', at(timeline.stoppedMs)]),
      row(['first 503', at(timeline.first503Ms)]),
      row(['database start requested', at(timeline.startRequestedMs)]),
      row(['database accepting connections', at(timeline.startedMs)]),
      row(['first expected answer after the restart', at(timeline.firstOkAnsweredAfterRestartMs)]),
      row(['first expected answer to a request sent after the restart', at(timeline.firstOkAfterRestartMs)]),
      row(['last 503', at(timeline.last503Ms)]),
      '',
      `${timeline.unavailable} answers were 503 (p50 ${ms(timeline.unavailableP50)}, max ${ms(timeline.unavailableMax)}), ` +
        `${timeline.unavailableWithoutRetryAfter} without Retry-After, ${timeline.unavailableOutside} outside the outage and its grace.`,
    )
    if (report.slices) {
      lines.push('', row(['seconds', 'expected', '503', 'other']), row(['---', '---', '---', '---']))
      for (const slice of report.slices) {
        lines.push(row([`${(slice.fromMs / 1000).toFixed(0)}`, slice.ok, slice.unavailable, slice.other]))
      }
    }
  }
  lines.push('', row(['guarantee', 'this run', 'met']), row(['---', '---', '---']))
  for (const check of report.checks)
    lines.push(row([check.guarantee, check.result, check.met ? 'yes' : '**no**']))
  if (report.serverLog.length) {
    lines.push('', 'Server log lines on stderr (level: message × count):', '')
    for (const [key, count] of report.serverLog) lines.push(`- ${key} × ${count}`)
  }
  return `${lines.join('\n')}\n`
}
