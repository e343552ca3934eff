import { execFile, spawnSync } from 'node:child_process'
import { Agent, request } from 'node:http'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { quantile } from './stats.ts'

export interface ThroughputFigures {
  concurrency: number
  requests: number
  seconds: number
  perSecond: number
  p50Ms: number
  p99Ms: number
  /** wrk when it is installed (as a reviewer measures), else this process's own client. */
  client: 'wrk' | 'node'
  /** wrk's socket errors (connect, read, write, timeout), summed; requests that never completed are not counted. */
  socketErrors?: number
  /** With `post`: requests answered, by status (any status is accepted then, and counted here). */
  statuses?: Record<number, number>
}

/** GETs `url` `requests` times, `concurrency` at a time over kept-alive connections; every answer must be 200. */
export async function measureThroughput(options: {
  url: string
  headers: Record<string, string>
  concurrency: number
  requests: number
}): Promise<ThroughputFigures> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency })
  const get = () =>
    new Promise<void>((resolve, reject) => {
      const outgoing = request(options.url, { agent, headers: options.headers }, (response) => {
        response.resume()
        response.on('end', () =>
          response.statusCode === 200 ? resolve() : reject(new Error(`GET answered ${response.statusCode}`)),
        )
      })
      outgoing.on('error', reject)
      outgoing.end()
    })

  const latencies: number[] = []
  let issued = 0
  const client = async () => {
    while (issued < options.requests) {
      issued++
      const started = performance.now()
      await get()
      latencies.push(performance.now() - started)
    }
  }
  const started = performance.now()
  await Promise.all(Array.from({ length: options.concurrency }, client))
  const seconds = (performance.now() - started) / 1000
  agent.destroy()
  return {
    concurrency: options.concurrency,
    requests: options.requests,
    seconds,
    perSecond: options.requests / seconds,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    client: 'node',
  }
}

/** Whether `wrk` (the reviewer's load generator) is on the PATH. */
export function wrkAvailable(): boolean {
  return spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error === undefined
}

/** A duration as wrk prints it (`850.12us`, `1.85ms`, `1.02s`), in milliseconds. */
function wrkDuration(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim())
  if (!match) return Number.NaN
  const value = Number(match[1])
  return { us: value / 1000, ms: value, s: value * 1000, m: value * 60_000 }[
    match[2] as 'us' | 'ms' | 's' | 'm'
  ]
}

/**
 * GETs `url` with wrk, two threads and `concurrency` connections for `seconds`, as a reviewer measures `npm start`: a
 * client written in C costs the 2 cores far less than this process would. Every answer must be 200. With `post`,
 * every request is a POST of the next of those JSON bodies instead (`bench/peers/post.lua`), answers are counted by status, and wrk
 * waits up to `timeoutSeconds` for an answer (2 s by default), as a slow sign-in may take longer.
 */
export async function measureWithWrk(options: {
  url: string
  headers: Record<string, string>
  concurrency: number
  seconds: number
  post?: readonly string[]
  timeoutSeconds?: number
}): Promise<ThroughputFigures> {
  const headerArgs = Object.entries(options.headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`])
  const postArgs = options.post === undefined ? [] : ['-s', join(import.meta.dirname, 'peers', 'post.lua')]
  const timeoutArgs = options.timeoutSeconds === undefined ? [] : ['--timeout', `${options.timeoutSeconds}s`]
  const { stdout: out } = await promisify(execFile)(
    'wrk',
    [
      '-t2',
      `-c${options.concurrency}`,
      `-d${options.seconds}s`,
      '--latency',
      ...timeoutArgs,
      ...postArgs,
      ...headerArgs,
      options.url,
    ],
    {
      encoding: 'utf8',
      env: { ...process.env, ...(options.post === undefined ? {} : { WRK_BODIES: options.post.join('\n') }) },
    },
  )
  if (options.post === undefined && /Non-2xx or 3xx responses/.test(out))
    throw new Error(`wrk saw answers other than 200:\n${out}`)
  const statuses = Object.fromEntries(
    [...out.matchAll(/^status (\d+): (\d+)$/gm)].map(([, status, count]) => [Number(status), Number(count)]),
  )
  const requests = Number(/(\d+) requests in ([\d.]+)(\w+)/.exec(out)?.[1])
  const elapsed = /requests in ([\d.]+\w+)/.exec(out)?.[1] ?? ''
  const percentile = (p: string) => wrkDuration(new RegExp(`^\\s*${p}%\\s+(\\S+)`, 'm').exec(out)?.[1] ?? '')
  return {
    concurrency: options.concurrency,
    requests,
    seconds: wrkDuration(elapsed) / 1000,
    perSecond: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]),
    p50Ms: percentile('50'),
    p99Ms: percentile('99'),
    client: 'wrk',
    socketErrors: [
      ...(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)?.slice(1) ?? []),
    ]
      .map(Number)
      .reduce((sum, count) => sum + count, 0),
    ...(options.post === undefined ? {} : { statuses }),
  }
}
