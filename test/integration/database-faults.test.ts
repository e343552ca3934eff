import { createServer, type Server } from 'node:net'
import { sql } from 'drizzle-orm'
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest'
import { freePort } from '#infra/local/postgres'
import { testDatabase } from '#test/helpers/database'
import { apiEvent, bearerEvent, invoke, jsonEvent, uniqueEmail } from '#test/helpers/events'
import { loggedIn, registeredUser } from '#test/helpers/users'

const database = testDatabase()
let blackHole: Server
let blackHolePort: number

beforeAll(async () => {
  blackHolePort = await freePort()
  // Accepts connections and never answers: a database behind a dead network path.
  blackHole = createServer(() => {})
  await new Promise<void>((resolve) => blackHole.listen(blackHolePort, '127.0.0.1', resolve))
})
afterAll(async () => {
  blackHole.close()
  await database.close()
})
afterEach(() => {
  vi.unstubAllEnvs()
  vi.resetModules()
})

/** The handlers of a fresh container (a cold start), with the database settings given. */
async function coldHandlers(env: Record<string, string>) {
  vi.resetModules()
  for (const [key, value] of Object.entries(env)) vi.stubEnv(key, value)
  const [{ handler: register }, { handler: health }, { handler: me }] = await Promise.all([
    import('#functions/register'),
    import('#functions/health'),
    import('#functions/me'),
  ])
  return { register, health, me }
}

const UNAVAILABLE = { status: 503, body: { detail: 'Service temporarily unavailable' } }

describe('an unreachable database', () => {
  it('answers 503 with Retry-After at once when the connection is refused', async () => {
    const { register, health } = await coldHandlers({ DATABASE_WS_PROXY: `127.0.0.1:${await freePort()}` })
    const response = await invoke(
      register,
      jsonEvent('/api/v1/auth/register', { email: uniqueEmail(), password: 'correct horse' }),
    )
    expect(response).toMatchObject(UNAVAILABLE)
    expect(response.headers['retry-after']).toMatch(/^\d+$/)
    expect(await invoke(health, apiEvent('GET', '/api/v1/health'))).toMatchObject({
      status: 503,
      body: { status: 'unavailable' },
    })
  })

  it('answers 503 within the connect timeout when the network swallows the connection, never hanging', async () => {
    const connectTimeoutMs = 1000
    const { register } = await coldHandlers({
      DATABASE_WS_PROXY: `127.0.0.1:${blackHolePort}`,
      DATABASE_CONNECT_TIMEOUT_MS: String(connectTimeoutMs),
    })
    const started = Date.now()
    const response = await invoke(
      register,
      jsonEvent('/api/v1/auth/register', { email: uniqueEmail(), password: 'correct horse' }),
    )
    expect(response).toMatchObject(UNAVAILABLE)
    // A bound, not a benchmark: the answer comes at the connect timeout, 61 ms after it at most in 5 runs on a loaded
    // 2-core machine. 1.5 s after it is still under the 3 s default, so a handler ignoring the setting fails here, and
    // long before a Lambda timeout.
    expect(Date.now() - started).toBeLessThan(connectTimeoutMs + 1500)
  })

  it('leaks nothing about the failure in the response', async () => {
    const { register } = await coldHandlers({ DATABASE_WS_PROXY: `127.0.0.1:${await freePort()}` })
    const response = await invoke(
      register,
      jsonEvent('/api/v1/auth/register', { email: uniqueEmail(), password: 'correct horse' }),
    )
    expect(response.raw).toBe('{"detail":"Service temporarily unavailable"}')
  })
})

describe('a warm container whose connections died (as when Lambda freezes it and Neon closes idle sockets)', () => {
  it('serves the next request on a fresh connection', async () => {
    // Tagged, so only this container's connections are killed, not those of tests running in parallel.
    const url = new URL(inject('databaseUrl'))
    url.searchParams.set('application_name', 'frozen-container')
    const { me } = await coldHandlers({ DATABASE_URL: url.toString() })
    const { access_token } = await loggedIn(await registeredUser())
    const request = () => invoke(me, bearerEvent('/api/v1/users/me', access_token))
    expect((await request()).status).toBe(200)

    const killed = await database.db.execute<{ pid: number }>(
      sql`select pg_terminate_backend(pid) as pid from pg_stat_activity where pid <> pg_backend_pid() and datname = current_database() and application_name = 'frozen-container'`,
    )
    expect(killed.rows.length).toBeGreaterThan(0)
    expect((await request()).status).toBe(200)
  })
})
