import { Agent, request } from 'node:http'
import { quantile } from './stats.ts'

export interface ThroughputFigures {
  concurrency: number
  requests: number
  seconds: number
  perSecond: number
  p50Ms: number
  p99Ms: number
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
  }
}
