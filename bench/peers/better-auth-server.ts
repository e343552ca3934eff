/**
 * The better-auth peer of `npm run bench:peers`: a tiny Node HTTP server with better-auth's email-and-password sign-in,
 * as a front-end team sets it up (a `pg` pool on its own database, the library's defaults otherwise), its tables made
 * by the library's own migrations. Its "who am I" is `GET /api/auth/get-session`. Settings from the environment
 * (BETTER_AUTH_DATABASE_URL, BETTER_AUTH_SECRET); tells its parent its port over IPC and exits when the parent
 * disconnects, so `--cpu-prof` can write its profile.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { betterAuth } from 'better-auth'
import { getMigrations } from 'better-auth/db/migration'
import { toNodeHandler } from 'better-auth/node'
import pg from 'pg'

const databaseUrl = process.env.BETTER_AUTH_DATABASE_URL
const secret = process.env.BETTER_AUTH_SECRET
if (!databaseUrl || !secret) throw new Error('set BETTER_AUTH_DATABASE_URL and BETTER_AUTH_SECRET')

const server = createServer()
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
const baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

const options = {
  baseURL,
  secret,
  // pg's default pool size (10), as the service's pool.
  database: new pg.Pool({ connectionString: databaseUrl, max: 10 }),
  emailAndPassword: { enabled: true },
  // The library limits sign-in to 3 per 10 s per address in production; a benchmark from one address must not hit it.
  rateLimit: { enabled: false },
  telemetry: { enabled: false },
}
const { runMigrations } = await getMigrations(options)
await runMigrations()
const auth = betterAuth(options)
server.on('request', toNodeHandler(auth))

process.send?.({ type: 'serving', port: (server.address() as AddressInfo).port })
process.on('disconnect', () => process.exit(0))
