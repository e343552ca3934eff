/**
 * `npm start`: the whole API on localhost, on a real PostgreSQL, migrated and seeded, behaving like the deployed
 * one. Data lives in `.local/` (git-ignored) and survives restarts; Ctrl-C stops everything, database included.
 */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { resolve } from 'node:path'
import { disposeContainer } from '#shared/app/container'
import { lambdaContext } from './event.ts'
import { type LocalPostgres, startLocalPostgres } from './postgres.ts'
import { createLocalServer, loadHandler } from './server.ts'
import { startWsProxy, type WsProxy } from './ws-proxy.ts'

const env = process.env
const root = resolve(import.meta.dirname, '../..')
const localDir = resolve(root, env.LOCAL_DATA_DIR ?? '.local')

/** A generated value kept in `.local/<file>` so restarts reuse it; `fresh` says whether it was made just now. */
async function keptSecret(file: string, make: () => string): Promise<{ value: string; fresh: boolean }> {
  const path = resolve(localDir, file)
  if (existsSync(path)) return { value: (await readFile(path, 'utf8')).trim(), fresh: false }
  const value = make()
  await writeFile(path, `${value}\n`, { mode: 0o600 })
  return { value, fresh: true }
}

/** A plain Postgres needs the WebSocket proxy; Neon's own endpoints speak WebSocket already. */
const isNeonHost = (url: string) => /\.neon\.(tech|build)$/i.test(new URL(url).hostname)

async function main() {
  await mkdir(localDir, { recursive: true })
  const port = Number(env.PORT ?? 3000)

  let postgres: LocalPostgres | undefined
  let proxy: WsProxy | undefined
  if (!env.DATABASE_URL) {
    postgres = await startLocalPostgres({ dataDir: resolve(localDir, 'pgdata'), persistent: true })
    env.DATABASE_URL = postgres.url
  }
  const databaseUrl = new URL(env.DATABASE_URL)
  if (!env.DATABASE_WS_PROXY && !isNeonHost(env.DATABASE_URL)) {
    proxy = await startWsProxy({ host: databaseUrl.hostname, port: Number(databaseUrl.port || 5432) })
    env.DATABASE_WS_PROXY = proxy.address
  }

  env.JWT_SECRET ??= (await keptSecret('jwt-secret', () => randomBytes(48).toString('base64url'))).value
  env.ADMIN_EMAIL ??= 'admin@example.com'
  const adminPassword = env.ADMIN_PASSWORD
    ? { value: env.ADMIN_PASSWORD, fresh: false }
    : await keptSecret('admin-password', () => randomBytes(18).toString('base64url'))
  env.ADMIN_PASSWORD = adminPassword.value

  const migrate = await (await loadHandler('migrate'))({} as never, lambdaContext('migrate'))
  const seed = (await (
    await loadHandler('seed-admin')
  )({} as never, lambdaContext('seed-admin'))) as unknown as {
    outcome: string
  }

  const server = createLocalServer()
  await new Promise<void>((done, fail) => {
    server.once('error', fail)
    server.listen(port, env.HOST ?? '127.0.0.1', done)
  })
  const { address, port: boundPort } = server.address() as AddressInfo
  const base = `http://${address}:${boundPort}`

  const lines = [
    '',
    `  API listening on ${base}/api/v1   (health: ${base}/api/v1/health)`,
    `  Docs: ${base}/docs   (OpenAPI: ${base}/api/v1/openapi.json)`,
    `  Database: ${postgres ? `embedded PostgreSQL, data in ${localDir}/pgdata (port ${postgres.port})` : databaseUrl.host}`,
    `  Migrations: ${JSON.stringify(migrate)}`,
    `  Admin: ${env.ADMIN_EMAIL} (${seed.outcome === 'created' ? 'created' : 'already existed, left unchanged'})`,
  ]
  if (adminPassword.fresh && seed.outcome === 'created') {
    lines.push(
      `  Admin password (generated, shown once; also kept in ${localDir}/admin-password): ${adminPassword.value}`,
    )
  }
  lines.push('  Ctrl-C stops the API and the database.', '')
  process.stdout.write(`${lines.join('\n')}\n`)

  let stopping = false
  const stop = async () => {
    if (stopping) return
    stopping = true
    process.stdout.write('\nStopping...\n')
    server.closeAllConnections()
    await new Promise((done) => server.close(done))
    await disposeContainer()
    await proxy?.close()
    await postgres?.stop()
    process.exit(0)
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}

main().catch((error: unknown) => {
  process.stderr.write(`npm start failed: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
})
