/**
 * `npm run test:mutations`: breaks each promise of `scripts/mutation-list.ts` once, in the smallest way, and runs
 * only the tests that claim it. A mutation the tests do not notice survived: the promise is kept by code no test
 * would miss. Never touches the working tree: every run is in a copy of it (its tracked and untracked files, the
 * repository's node_modules linked in), deleted at the end.
 *
 *   npm run test:mutations                    every mutation, a table on stdout
 *   npm run test:mutations -- --only a,b      those mutations only
 *   npm run test:mutations -- --list          the list, nothing run
 *   npm run test:mutations -- --write         and the table into docs/reliability.md (a full run only)
 *
 * First the claiming tests run unmutated (all must pass, or nothing is concluded); then, one mutation at a time, the
 * edit is applied to the copy, its tests run (`vitest run --bail=1`), the file is restored. Exit status 1 when any
 * mutation survived, or could not be applied (its text is not found exactly once: the list went stale).
 */
import { execFileSync, spawn } from 'node:child_process'
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { MUTATIONS, type Mutation } from './mutation-list.ts'

const ROOT = join(import.meta.dirname, '..')
const DOC = join(ROOT, 'docs', 'reliability.md')
const BEGIN = '<!-- mutations:begin (npm run test:mutations -- --write) -->'
const END = '<!-- mutations:end -->'
/** One mutation's run: far above any claiming file's time on a loaded 2-core machine, so only a hang reaches it. */
const RUN_TIMEOUT_MS = 15 * 60_000

type Outcome = 'caught' | 'survived' | 'stale' | 'timeout'
interface Result {
  mutation: Mutation
  outcome: Outcome
  /** The first failing test, or why nothing ran. */
  by: string
  seconds: number
}

function parseArgs(argv: string[]) {
  const only = argv.includes('--only') ? (argv[argv.indexOf('--only') + 1] ?? '').split(',') : null
  return { only, list: argv.includes('--list'), write: argv.includes('--write') }
}

/** A copy of the working tree (what git tracks or would), with the repository's node_modules linked in. */
function copyOfWorkingTree(): string {
  const copy = mkdtempSync(join(tmpdir(), 'papa-auth-mutations-'))
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: ROOT,
    encoding: 'utf8',
  })
    .split('\0')
    .filter(Boolean)
  for (const file of files) {
    mkdirSync(dirname(join(copy, file)), { recursive: true })
    try {
      copyFileSync(join(ROOT, file), join(copy, file))
    } catch (error) {
      // A tracked file deleted in the working tree stays deleted in the copy.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    }
  }
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'), 'dir')
  return copy
}

interface VitestReport {
  numTotalTests: number
  numFailedTests: number
  testResults: {
    name: string
    status: string
    message?: string
    assertionResults: { fullName: string; status: string }[]
  }[]
}

/** Runs `files` with vitest in `cwd`; the report, or null when it did not finish within the timeout. */
function vitest(cwd: string, files: readonly string[]): Promise<VitestReport | null> {
  const output = join(cwd, '.mutation-report.json')
  rmSync(output, { force: true })
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        join(cwd, 'node_modules', 'vitest', 'vitest.mjs'),
        'run',
        '--bail=1',
        '--reporter=json',
        `--outputFile=${output}`,
        ...files,
      ],
      { cwd, env: { ...process.env, CI: 'true' }, stdio: 'ignore', detached: true },
    )
    const timer = setTimeout(() => {
      // The whole group: vitest's workers and the PostgreSQL its global setup started.
      try {
        process.kill(-(child.pid as number), 'SIGKILL')
      } catch {}
      resolve(null)
    }, RUN_TIMEOUT_MS)
    child.on('error', reject)
    child.on('exit', () => {
      clearTimeout(timer)
      try {
        resolve(JSON.parse(readFileSync(output, 'utf8')) as VitestReport)
      } catch {
        reject(new Error(`vitest left no report for ${files.join(' ')}`))
      }
    })
  })
}

/** The first failing test's name (or the file that failed to run): what caught the mutation. */
function firstFailure(report: VitestReport, cwd: string): string | null {
  for (const file of report.testResults) {
    const failed = file.assertionResults.find((test) => test.status === 'failed')
    const name = file.name.replace(`${cwd}/`, '')
    if (failed) return `${name}: ${failed.fullName}`
    if (file.status === 'failed') return `${name}: ${(file.message ?? 'failed to run').split('\n')[0]}`
  }
  return null
}

function occurrences(text: string, needle: string): number {
  let count = 0
  for (let at = text.indexOf(needle); at !== -1; at = text.indexOf(needle, at + needle.length)) count++
  return count
}

async function runMutation(copy: string, mutation: Mutation): Promise<Result> {
  const started = performance.now()
  const path = join(copy, mutation.file)
  const original = readFileSync(path, 'utf8')
  const found = occurrences(original, mutation.from)
  const done = (outcome: Outcome, by: string): Result => ({
    mutation,
    outcome,
    by,
    seconds: Math.round((performance.now() - started) / 1000),
  })
  if (found !== 1) return done('stale', `its text is found ${found} times in ${mutation.file}`)
  writeFileSync(
    path,
    original.replace(mutation.from, () => mutation.to),
  )
  try {
    const report = await vitest(copy, mutation.tests)
    if (!report) return done('timeout', `no answer in ${RUN_TIMEOUT_MS / 60_000} min`)
    const failure = firstFailure(report, copy)
    if (failure) return done('caught', failure)
    if (report.numTotalTests === 0) return done('survived', 'no test ran')
    return done('survived', `${report.numTotalTests} tests passed`)
  } finally {
    writeFileSync(path, original)
  }
}

const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ')

function table(results: readonly Result[]): string {
  const rows = results.map(
    ({ mutation, outcome, by, seconds }) =>
      `| \`${mutation.id}\` | ${cell(mutation.promise)} | \`${mutation.file}\`: ${cell(mutation.edit)} | ` +
      `**${outcome}** | ${cell(by)} | ${seconds} |`,
  )
  return [
    '| Mutation | The promise it breaks | The edit | Outcome | Caught by | s |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n')
}

function writeDoc(results: readonly Result[], run: { commit: string; load: string; minutes: number }) {
  const doc = readFileSync(DOC, 'utf8')
  const begin = doc.indexOf(BEGIN)
  const end = doc.indexOf(END)
  if (begin === -1 || end < begin) throw new Error(`docs/reliability.md has no ${BEGIN} … ${END} block`)
  const caught = results.filter((result) => result.outcome === 'caught').length
  const block = [
    BEGIN,
    '',
    `Last run: ${new Date().toISOString().slice(0, 10)}, at \`${run.commit}\`, ${caught} of ${results.length} ` +
      `mutations caught, ${run.minutes} min in all (the unmutated run included) on ${availableParallelism()} cores ` +
      `(load ${run.load} at the start), Node ` +
      `${process.versions.node}.`,
    '',
    table(results),
    '',
  ].join('\n')
  writeFileSync(DOC, doc.slice(0, begin) + block + doc.slice(end))
}

async function main() {
  const args = parseArgs(process.argv.slice(2))
  const unknown = args.only?.filter((id) => !MUTATIONS.some((mutation) => mutation.id === id)) ?? []
  if (unknown.length > 0) throw new Error(`no such mutation: ${unknown.join(', ')}`)
  const chosen = MUTATIONS.filter((mutation) => !args.only || args.only.includes(mutation.id))
  if (args.list) {
    for (const { id, promise, file, tests } of chosen)
      console.log(`${id}\n  ${promise}\n  ${file} → ${tests.join(' ')}`)
    return
  }
  if (args.write && args.only) throw new Error('--write records a full run only')

  const started = performance.now()
  const load = loadavg()[0]?.toFixed(1) ?? '?'
  const copy = copyOfWorkingTree()
  const stop = () => {
    rmSync(copy, { recursive: true, force: true })
    process.exit(130)
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  try {
    const claiming = [...new Set(chosen.flatMap((mutation) => mutation.tests))].sort()
    console.log(`unmutated: ${claiming.length} test files …`)
    const baseline = await vitest(copy, claiming)
    const broken = baseline && firstFailure(baseline, copy)
    if (!baseline || broken) throw new Error(`the claiming tests fail unmutated: ${broken ?? 'timeout'}`)

    const results: Result[] = []
    for (const mutation of chosen) {
      const result = await runMutation(copy, mutation)
      results.push(result)
      console.log(`${result.outcome.padEnd(8)} ${mutation.id} (${result.seconds} s): ${result.by}`)
    }
    console.log(`\n${table(results)}`)
    if (args.write) {
      const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
        cwd: ROOT,
        encoding: 'utf8',
      }).trim()
      writeDoc(results, { commit, load, minutes: Math.round((performance.now() - started) / 60_000) })
    }
    const missed = results.filter((result) => result.outcome !== 'caught')
    console.log(`\n${results.length - missed.length} of ${results.length} caught`)
    if (missed.length > 0) process.exitCode = 1
  } finally {
    rmSync(copy, { recursive: true, force: true })
  }
}

await main()
