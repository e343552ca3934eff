/**
 * `npm run bench:cutover [-- --rows 1000000]`: the cutover at the size the old backend reached. Loads the FastAPI
 * backend's users table with `--rows` rows by generate_series (with email collisions, username clashes, invalid
 * emails, over-long usernames and NULL flags, as an old table has), plus an `orders` table whose foreign key names
 * users and a view over users, into a throwaway embedded PostgreSQL; then runs the cutover function's deployed bundle
 * (with the migrations beside it, as the stack builds it), each invocation in a fresh Node process as a Lambda
 * container would (the dry run, then the apply, which repoints the foreign key and the view), and prints the wall time
 * and the process's peak RSS against the function's memory and timeout in functions/routes.ts.
 * Loopback traffic only; the database is deleted afterwards.
 */
import { fork } from 'node:child_process'
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { connectDirect } from '#db/client'
import { lambdas } from '#functions/routes'
import { bundleFunction, MIGRATIONS_FOLDER } from '#infra/bundling'
import { startLocalStack } from '#infra/local/local-stack'
import { OWNER_ROLE } from '#infra/local/roles'

/** What the worker (cutover-worker.mjs) reports of one invocation. */
interface CutoverRun {
  ms: number
  /** Peak RSS once the bundle is imported, and at the invocation's end, in MB (1 MB = 1024 × 1024 bytes). */
  maxRssBeforeMb: number
  maxRssMb: number
  outcome: string
  legacyRows: number
  carried: number
  undecided: number
  repointed: number
  /** The JSON answer's size, in bytes: Lambda's limit is 6 MB. */
  reportBytes: number
}

const { values: options } = parseArgs({ options: { rows: { type: 'string', default: '1000000' } } })
const ROWS = Number(options.rows)
if (!Number.isInteger(ROWS) || ROWS < 1000) throw new Error('--rows must be an integer of at least 1000')
const DATABASE = 'fastapi_bench'
const LIMIT = lambdas.cutover

/** The old backend's schema as its Alembic migration made it (test/helpers/legacy-database.ts holds the same). */
const ALEMBIC_DDL = `
CREATE TABLE users (id SERIAL NOT NULL, email VARCHAR NOT NULL, username VARCHAR, hashed_password VARCHAR NOT NULL,
  is_active BOOLEAN, is_superuser BOOLEAN, created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
  updated_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, PRIMARY KEY (id));
CREATE UNIQUE INDEX ix_users_email ON users (email); CREATE INDEX ix_users_id ON users (id);
CREATE UNIQUE INDEX ix_users_username ON users (username);
CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));
INSERT INTO alembic_version VALUES ('3f2a9c1d7b4e');
`

/**
 * Every 100th row repeats the one before's email in another case (1% in collision groups), every 1000th email is no
 * address, every 200th username clashes by case with the one before's, every 5000th is over 50 characters, every
 * 10,000th has NULL flags, 2% are inactive, a third have no username; hashes have passlib's shape and size.
 */
const LOAD = `
INSERT INTO users (id, email, username, hashed_password, is_active, is_superuser, created_at, updated_at)
SELECT i,
  CASE WHEN i % 1000 = 500 THEN 'not-an-email-' || i
    WHEN i % 100 = 0 THEN 'User' || (i - 1) || '@Example.com'
    ELSE 'user' || i || '@example.com' END,
  CASE WHEN i % 5000 = 1234 THEN repeat('a_long_username_', 4) || i
    WHEN i % 200 = 7 THEN 'NAME' || (i - 1)
    WHEN i % 3 = 0 THEN NULL
    ELSE 'name' || i END,
  '$2b$12$' || left(md5(i::text) || md5((-i)::text), 53),
  CASE WHEN i % 10000 = 1 THEN NULL ELSE i % 50 <> 0 END,
  CASE WHEN i % 10000 = 1 THEN NULL ELSE i = 1 END,
  TIMESTAMP '2019-01-01' + i * INTERVAL '1 minute',
  TIMESTAMP '2019-01-01' + i * INTERVAL '1 minute' + (i % 7) * INTERVAL '1 day'
FROM generate_series(1, ${ROWS}) AS i;
SELECT setval('users_id_seq', ${ROWS});
CREATE TABLE orders (id BIGSERIAL PRIMARY KEY, user_id INTEGER REFERENCES users (id), item TEXT NOT NULL);
INSERT INTO orders (user_id, item) SELECT (i * 7) % ${ROWS} + 1, 'item ' || i FROM generate_series(1, ${ROWS / 10}) AS i;
CREATE VIEW active_users AS SELECT id, email, username FROM users WHERE is_active;
ANALYZE;
`

const progress = (message: string) => process.stderr.write(`bench:cutover: ${message}\n`)
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`
const onDatabase = (url: string) => {
  const parsed = new URL(url)
  parsed.pathname = `/${DATABASE}`
  return parsed.toString()
}

/** One invocation of the cutover function in a fresh process. */
function invoke(bundle: string, event: Record<string, unknown>, env: NodeJS.ProcessEnv): Promise<CutoverRun> {
  return new Promise((resolve, reject) => {
    const args = [bundle, JSON.stringify(event), String(LIMIT.timeoutSeconds * 1000)]
    const child = fork(new URL('./cutover-worker.mjs', import.meta.url), args, {
      env,
      execArgv: [],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    })
    let run: CutoverRun | undefined
    child.on('message', (message) => {
      run = message as CutoverRun
    })
    child.on('error', reject)
    child.on('exit', (code) =>
      run ? resolve(run) : reject(new Error(`the cutover worker exited with ${code} and no figures`)),
    )
  })
}

const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.version}`
const loadAtStart = loadavg()[0] ?? 0
progress(`starting a throwaway PostgreSQL (${machine})…`)
const workDir = mkdtempSync(join(tmpdir(), 'papa-auth-bench-cutover-'))
const bundle = bundleFunction('cutover', workDir).file
cpSync(MIGRATIONS_FOLDER, join(workDir, 'migrations'), { recursive: true })
const stack = await startLocalStack({ setup: 'migrations', proxyInChildProcess: true })
try {
  const { DATABASE_MIGRATION_URL: ownerUrl = stack.databaseUrl, DATABASE_WS_PROXY: wsProxy } =
    stack.databaseEnv
  const admin = await connectDirect(stack.superuserUrl, wsProxy)
  try {
    await admin.query(`create database ${DATABASE} owner ${OWNER_ROLE}`)
  } finally {
    await admin.end()
  }
  progress(`loading ${ROWS.toLocaleString('en')} old rows with generate_series…`)
  const loadStarted = performance.now()
  const owner = await connectDirect(onDatabase(ownerUrl), wsProxy)
  try {
    await owner.query(ALEMBIC_DDL)
    await owner.query(LOAD)
  } finally {
    await owner.end()
  }
  const loadMs = performance.now() - loadStarted

  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '',
    DATABASE_MIGRATION_URL: onDatabase(ownerUrl),
    DATABASE_URL: onDatabase(stack.databaseUrl),
    ...(wsProxy ? { DATABASE_WS_PROXY: wsProxy } : {}),
  }
  const flags = {
    emailCollisions: 'deactivate',
    usernameCollisions: 'rename',
    invalidEmails: 'deactivate',
    inbound: 'repoint',
  }
  progress(`loaded in ${seconds(loadMs)}; the dry run…`)
  const dryRun = await invoke(bundle, { apply: false, ...flags }, env)
  progress(`dry run in ${seconds(dryRun.ms)}; the apply…`)
  const apply = await invoke(bundle, { apply: true, ...flags }, env)
  progress(`apply in ${seconds(apply.ms)}`)

  const row = (name: string, run: CutoverRun) =>
    `| ${name} | ${run.legacyRows.toLocaleString('en')} | ${run.carried.toLocaleString('en')} | ${seconds(run.ms)} | ${run.maxRssMb.toFixed(0)} MB (${run.maxRssBeforeMb.toFixed(0)} MB once imported) | ${(run.reportBytes / 1024).toFixed(1)} KB | ${run.maxRssMb <= LIMIT.memoryMb && run.ms <= LIMIT.timeoutSeconds * 1000 ? '✅ within' : '❌ over'} ${LIMIT.memoryMb} MB, ${LIMIT.timeoutSeconds} s |`
  process.stdout.write(
    [
      `Cutover at ${ROWS.toLocaleString('en')} old rows (${(ROWS / 10).toLocaleString('en')} orders referencing them, one view), flags ${JSON.stringify(flags)}.`,
      `${machine}; load average ${loadAtStart.toFixed(2)} at start, ${(loadavg()[0] ?? 0).toFixed(2)} at end; the old table loaded in ${seconds(loadMs)}.`,
      'Each invocation in a fresh Node process running the cutover function’s deployed bundle; peak RSS is getrusage’s maxRSS (1 MB = 1024 KiB).',
      '',
      '| invocation | old rows | carried | time | peak RSS | report | function limit |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      row('dry run', dryRun),
      row(`apply (${apply.repointed} repointed; then migrate)`, apply),
      '',
    ].join('\n'),
  )
  if (apply.outcome !== 'applied') process.exitCode = 1
} finally {
  await stack.stop()
  rmSync(workDir, { recursive: true, force: true })
}
