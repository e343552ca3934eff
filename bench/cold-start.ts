import { spawn } from 'node:child_process'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import type { APIGatewayProxyEventV2 } from 'aws-lambda'
import { COLD_START_MARKS } from '#shared/app/container'
import { median } from './stats.ts'

interface ProbeResult {
  probeStarted: number
  imported: number
  responded: number
  warmMs: number
  socketCreated?: number
  marks: Record<string, number>
  statusCodes: [number | undefined, number | undefined]
}

export interface ColdStartScenario {
  name: string
  bundle: string
  /** A new event for each run: the cold request, then the warm one. */
  events: (run: number) => [APIGatewayProxyEventV2, APIGatewayProxyEventV2]
  env: NodeJS.ProcessEnv
  expectStatus: number
}

/** Medians over the runs, in milliseconds. */
export interface ColdStartFigures {
  name: string
  runs: number
  /** `GetSecretValue` calls per process (two requests each), when the secrets come from Secrets Manager. */
  secretCallsPerProcess?: number
  /** Process start to the probe's first line: Node's own start-up. */
  bootstrap: number
  /** Loading and evaluating the bundle (the Lambda init phase, less the runtime's own work). */
  import: number
  config: number
  /** Making the Secrets Manager client (loading the SDK), when a secret is configured by ARN. */
  secretReader: number
  /** Reading the secrets: two `GetSecretValue` calls in parallel, or nothing when they are inline. */
  secrets: number
  /** From the start of the container build until it is ready. */
  container: number
  /** WebSocket created until Postgres said ready: upgrade, startup, authentication. */
  connection: number
  /** When the connection was started, relative to the first invocation (negative: during init). */
  connectionStartVsInvoke: number
  /** When the connection was ready, relative to the first invocation (negative: before it). */
  connectionReadyVsInvoke: number
  /** Invocation to response, the first time. */
  firstRequest: number
  /** Process start to the first response. */
  firstResponse: number
  /** The same request again, warm. */
  warmRequest: number
}

function runProbe(scenario: ColdStartScenario, run: number): Promise<ProbeResult> {
  const child = spawn(
    process.execPath,
    [
      join(import.meta.dirname, 'cold-start-probe.mjs'),
      scenario.bundle,
      JSON.stringify(scenario.events(run)),
    ],
    { env: scenario.env, stdio: ['ignore', 'ignore', 'inherit', 'pipe'] },
  )
  const output: Buffer[] = []
  ;(child.stdio[3] as Readable).on('data', (chunk: Buffer) => output.push(chunk))
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`cold-start probe for ${scenario.name} exited with ${code}`))
      resolve(JSON.parse(Buffer.concat(output).toString('utf8')) as ProbeResult)
    })
  })
}

/** Runs a scenario in `runs` fresh processes, one after the other, and reports the median of each milestone. */
export async function measureColdStart(scenario: ColdStartScenario, runs: number): Promise<ColdStartFigures> {
  const results: ProbeResult[] = []
  for (let run = 0; run < runs; run++) {
    const result = await runProbe(scenario, run)
    if (result.statusCodes[0] !== scenario.expectStatus) {
      throw new Error(
        `cold ${scenario.name} answered ${result.statusCodes[0]}, expected ${scenario.expectStatus}`,
      )
    }
    results.push(result)
  }
  const of = (pick: (result: ProbeResult, mark: (name: string) => number) => number) =>
    median(results.map((result) => pick(result, (name) => result.marks[name] ?? Number.NaN)))
  const M = COLD_START_MARKS
  return {
    name: scenario.name,
    runs,
    bootstrap: of((r) => r.probeStarted),
    import: of((r) => r.imported - r.probeStarted),
    config: of((_, mark) => mark(M.configLoaded) - mark(M.containerStart)),
    secretReader: of((_, mark) => mark(M.secretReaderReady) - mark(M.configLoaded)),
    secrets: of((_, mark) => mark(M.secretsResolved) - mark(M.secretReaderReady)),
    container: of((_, mark) => mark(M.containerReady) - mark(M.containerStart)),
    connection: of((r, mark) => mark(M.databaseConnected) - (r.socketCreated ?? Number.NaN)),
    connectionStartVsInvoke: of((r) => (r.socketCreated ?? Number.NaN) - r.imported),
    connectionReadyVsInvoke: of((r, mark) => mark(M.databaseConnected) - r.imported),
    firstRequest: of((r) => r.responded - r.imported),
    firstResponse: of((r) => r.responded),
    warmRequest: of((r) => r.warmMs),
  }
}
