import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { functionEnv } from '../../bench/function-env.ts'
import { SCALE_ENDPOINTS, WINDOW_ENDPOINTS } from '../../bench/scale-protocol.ts'
import type { ScaleRun } from '../../bench/scale-report.ts'

const ROOT = resolve(import.meta.dirname, '../..')
const folder = await mkdtemp(join(tmpdir(), 'papa-auth-scale-test-'))
afterAll(() => rm(folder, { recursive: true, force: true }))

/** Runs `npm run bench:scale` with `args` in a process of its own, as a developer would; its exit code and output. */
function benchScale(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['bench/scale.ts', ...args], {
    cwd: ROOT,
    // The service's settings the test run sets (its database, its keys) are not the bench's.
    env: functionEnv({ REGISTER_RATE_LIMIT: undefined }),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const stdout: Buffer[] = []
  const stderr: Buffer[] = []
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk))
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk))
  return new Promise((done) =>
    child.once('close', (code) =>
      done({ code, stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString() }),
    ),
  )
}

describe('npm run bench:scale', () => {
  it('loads a small volume, measures every endpoint empty and loaded, drains the backlog and reports it all', async () => {
    const figuresFile = join(folder, 'scale-figures.json')
    const run = await benchScale([
      '--users',
      '500',
      '--calls',
      '5',
      '--login-calls',
      '2',
      '--warmup',
      '1',
      '--min-window',
      '0.2',
      '--figures',
      figuresFile,
    ])
    expect(run.code, run.stderr).toBe(0)

    const figures = JSON.parse(await readFile(figuresFile, 'utf8')) as ScaleRun
    expect(figures.volume).toMatchObject({ users: 500, sessions: 1500, refreshTokens: 2250, events: 2500 })
    for (const phase of [figures.empty, figures.loaded]) {
      expect(phase.map((series) => series.endpoint)).toEqual([...SCALE_ENDPOINTS])
      for (const series of phase) {
        const calls = series.endpoint === 'login' ? 2 : 5
        expect(series.endpointMs).toHaveLength(calls)
        expect(series.floorMs).toHaveLength(calls)
        expect(Math.min(...series.roundTrips)).toBeGreaterThanOrEqual(1)
      }
    }
    // Both runs of the cleanup reached the end of what was stale, and the day's was bigger than the hour's.
    for (const cleanup of [figures.steadyCleanup, figures.backlogCleanup]) {
      expect(cleanup.failure).toBeUndefined()
      expect(cleanup.complete).toBe(true)
    }
    const deleted = (record: Record<string, number>) => Object.values(record).reduce((a, b) => a + b, 0)
    expect(deleted(figures.backlogCleanup.deleted)).toBeGreaterThan(deleted(figures.steadyCleanup.deleted))
    expect(figures.during.series.map((series) => series.endpoint)).toEqual([...WINDOW_ENDPOINTS])
    expect(figures.without.series.every((series) => series.endpointMs.length > 0)).toBe(true)
    const users = figures.sizes.find((size) => size.table === 'users')
    expect(users?.rows).toBeGreaterThanOrEqual(500)
    expect(users?.indexBytes).toBeGreaterThan(0)

    // The report: one row per endpoint, both cleanup runs, and a size row per table.
    for (const endpoint of SCALE_ENDPOINTS) expect(run.stdout).toContain(`| \`${endpoint}\``)
    expect(run.stdout).toContain("| steady state (15 minutes of stale rows, the run's interval)")
    expect(run.stdout).toContain('| a day of stale rows')
    for (const size of figures.sizes) expect(run.stdout).toContain(`| ${size.table} `)
  }, 180_000)
})
