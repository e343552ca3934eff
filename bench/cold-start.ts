import { spawn } from 'node:child_process'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import type { APIGatewayProxyEventV2 } from 'aws-lambda'
import { median } from './stats.ts'

/** What the probe saw, in milliseconds since its process started; a milestone it did not see is left out. */
interface ProbeResult {
  probeStarted: number
  imported: number
  responded: number
  warmMs: number
  socketCreated?: number
  socketOpened?: number
  databaseReady?: number
  secretCalls: number
  secretsSent?: number
  secretsAnswered?: number
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

/**
 * Medians over the runs, in milliseconds, each seen from outside the bundle. "The invoke" is the end of the import:
 * the probe invokes the handler as soon as the import is over.
 */
export interface ColdStartFigures {
  name: string
  runs: number
  /** `GetSecretValue` calls per process (two requests each), when the secrets come from Secrets Manager. */
  secretCallsPerProcess?: number
  /** Process start to the probe's first line: Node's own start-up. */
  bootstrap: number
  /** Loading and evaluating the bundle (the Lambda init phase, less the runtime's own work). */
  import: number
  /** When the first `GetSecretValue` was sent, relative to the invoke (negative: during init). */
  secretsStartVsInvoke: number
  /** First `GetSecretValue` sent until the last one answered: the calls run in parallel. */
  secrets: number
  /** WebSocket created until Postgres said ready (its first ReadyForQuery): upgrade, startup, authentication. */
  connection: number
  /** WebSocket created until its upgrade was done. */
  upgrade: number
  /** When the connection was started, relative to the invoke (negative: during init). */
  connectionStartVsInvoke: number
  /** When the connection was ready, relative to the invoke (negative: before it). */
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
  const of = (pick: (result: ProbeResult) => number | undefined) =>
    median(results.map((result) => pick(result) ?? Number.NaN))
  const secretCalls = of((r) => r.secretCalls)
  return {
    name: scenario.name,
    runs,
    ...(secretCalls > 0 ? { secretCallsPerProcess: secretCalls } : {}),
    bootstrap: of((r) => r.probeStarted),
    import: of((r) => r.imported - r.probeStarted),
    secretsStartVsInvoke: of((r) => since(r.imported, r.secretsSent)),
    secrets: of((r) => since(r.secretsSent, r.secretsAnswered)),
    connection: of((r) => since(r.socketCreated, r.databaseReady)),
    upgrade: of((r) => since(r.socketCreated, r.socketOpened)),
    connectionStartVsInvoke: of((r) => since(r.imported, r.socketCreated)),
    connectionReadyVsInvoke: of((r) => since(r.imported, r.databaseReady)),
    firstRequest: of((r) => r.responded - r.imported),
    firstResponse: of((r) => r.responded),
    warmRequest: of((r) => r.warmMs),
  }
}

/** Milliseconds from one milestone to another; undefined when the probe did not see both. */
const since = (from: number | undefined, to: number | undefined) =>
  from === undefined || to === undefined ? undefined : to - from
