import { request } from 'node:http'
import { describe, expect, inject, it } from 'vitest'
import { connectDirect } from '#db/client'
import { sqlState } from '#db/errors'

/** The status the local WebSocket proxy answers an upgrade with, sent with `headers`. */
function upgradeStatus(headers: Record<string, string>): Promise<number> {
  const [host, port] = inject('wsProxy').split(':')
  const target = new URL(inject('databaseUrl'))
  return new Promise((resolve, reject) => {
    const req = request({
      host,
      port: Number(port),
      path: `/v2?address=${target.hostname}:${target.port}`,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        ...headers,
      },
    })
    req.on('upgrade', (response, socket) => {
      socket.destroy()
      resolve(response.statusCode ?? 0)
    })
    req.on('response', (response) => {
      response.resume()
      resolve(response.statusCode ?? 0)
    })
    req.on('error', reject)
    req.end()
  })
}

describe('the local database is closed to web pages', () => {
  it('refuses a WebSocket upgrade that carries an Origin, as every browser sends', async () => {
    expect(await upgradeStatus({ origin: 'https://evil.example' })).toBe(403)
    expect(await upgradeStatus({ origin: 'http://localhost:5173' })).toBe(403)
    // The Neon driver in Node sends none, and is let through.
    expect(await upgradeStatus({})).toBe(101)
  })

  it("has no well-known superuser password: the old 'postgres' is refused", async () => {
    const url = new URL(inject('superuserUrl'))
    expect(url.password).not.toBe('postgres')
    expect(url.password.length).toBeGreaterThanOrEqual(32)
    url.password = 'postgres'
    const error = await connectDirect(url.toString(), inject('wsProxy')).then(
      async (client) => {
        await client.end()
        return undefined
      },
      (caught: unknown) => caught,
    )
    expect(sqlState(error)).toBe('28P01')
  })
})
