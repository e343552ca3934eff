import { connect } from 'node:net'
import { WebSocketServer } from 'ws'
import { freePort } from './postgres.ts'

export interface WsProxy {
  /** `host:port`, the value for `DATABASE_WS_PROXY`. */
  address: string
  /** Connections currently open, for tests that check nothing leaks. */
  readonly openConnections: number
  close(): Promise<void>
}

/**
 * The WebSocket-to-TCP bridge that Neon runs in front of Postgres, for a local one: each WebSocket carries one
 * Postgres connection, binary frames both ways. It listens on loopback only, forwards only to the one database it was
 * started for (never an open proxy), and refuses any upgrade that carries an `Origin` header: browsers always send
 * one and the Neon driver in Node never does, so a web page open in the developer's browser cannot reach Postgres
 * through it.
 */
export async function startWsProxy(target: { host: string; port: number }, port?: number): Promise<WsProxy> {
  const listenPort = port ?? (await freePort())
  const server = new WebSocketServer({
    host: '127.0.0.1',
    port: listenPort,
    perMessageDeflate: false,
    verifyClient: ({ req }, done) =>
      req.headers.origin === undefined ? done(true) : done(false, 403, 'Forbidden'),
  })
  let open = 0

  server.on('connection', (socket, request) => {
    const requested = new URL(request.url ?? '/', 'http://localhost').searchParams.get('address')
    const [host, requestedPort] = (requested ?? '').split(':')
    const sameHost = host === target.host || host === 'localhost' || host === '127.0.0.1'
    if (!sameHost || Number(requestedPort) !== target.port) {
      socket.close(1008, 'address not allowed')
      return
    }
    open++
    const tcp = connect({ host: target.host, port: target.port })
    tcp.setNoDelay(true)
    const pending: Buffer[] = []
    tcp.on('connect', () => {
      for (const chunk of pending.splice(0)) tcp.write(chunk)
    })
    tcp.on('data', (data) => socket.send(data, { binary: true }))
    socket.on('message', (data: Buffer) => (tcp.connecting ? pending.push(data) : tcp.write(data)))
    let closed = false
    const close = () => {
      if (closed) return
      closed = true
      open--
      tcp.destroy()
      socket.terminate()
    }
    tcp.on('close', close)
    tcp.on('error', close)
    socket.on('close', close)
    socket.on('error', close)
  })

  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve)
    server.once('error', reject)
  })

  return {
    address: `127.0.0.1:${listenPort}`,
    get openConnections() {
      return open
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) client.terminate()
        server.close(() => resolve())
      }),
  }
}
