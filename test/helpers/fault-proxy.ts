/**
 * A TCP proxy in front of PostgreSQL that loses answers on purpose. It forwards bytes both ways and reads the
 * PostgreSQL wire protocol as it goes; armed with a fragment of SQL, it lets the first statement whose text holds the
 * fragment (a Parse `P` of the extended protocol, or a simple Query `Q`) run and commit on the server, then drops the
 * server's whole answer to it (up to its ReadyForQuery) and cuts the client's connection: the statement committed, and
 * the client cannot know.
 */
import { createServer, type Socket, connect as tcpConnect } from 'node:net'

/** What the proxy dropped for one armed statement. */
export interface DroppedAnswer {
  fragment: string
  /** The message that carried the statement: `P` (Parse, extended protocol) or `Q` (simple query). */
  carrier: 'P' | 'Q'
  /** The type bytes of the server's messages that were withheld from the client, in order. */
  withheld: string[]
  /**
   * The transaction status of the server's ReadyForQuery that ended the answer: `I` (idle) after an autocommitted
   * statement means it committed; `T` or `E`, that the client had a transaction open.
   */
  transactionStatus: string
  /** Whether the server answered CommandComplete (`C`) and no ErrorResponse (`E`): the statement succeeded. */
  completed: boolean
}

export interface FaultProxy {
  port: number
  /** `127.0.0.1:<port>`: where to point a connection string (or a WebSocket proxy) instead of the server. */
  address: string
  /** Loses the answer to the next statement whose SQL text contains `fragment` (once). */
  arm(fragment: string): void
  /** Forgets every arming whose statement has not come. */
  disarm(): void
  /** Whether an arming still waits for its statement. */
  readonly armed: boolean
  /** Every answer dropped so far, oldest first. */
  readonly drops: readonly DroppedAnswer[]
  /** Connections currently open through the proxy. */
  readonly openConnections: number
  close(): Promise<void>
}

/** Startup-phase request codes (protocol 3.0): each is answered by one unframed byte, or not at all (cancel). */
const SSL_REQUEST = 80877103
const GSSENC_REQUEST = 80877104

interface Message {
  /** The type byte as a character; `startup` for the untyped messages that open a connection. */
  type: string
  /** The whole message, as it travelled. */
  raw: Buffer
}

/** Splits a byte stream into PostgreSQL messages, keeping an incomplete one until the rest arrives. */
class MessageReader {
  #pending: Buffer = Buffer.alloc(0)
  /** Untyped startup messages expected next (client side). */
  startup: boolean
  /** Single unframed bytes expected next (the server's answer to SSLRequest or GSSENCRequest). */
  rawBytes = 0

  constructor(startup: boolean) {
    this.startup = startup
  }

  push(chunk: Buffer): Message[] {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk])
    const messages: Message[] = []
    for (;;) {
      const buffer = this.#pending
      if (this.rawBytes > 0) {
        if (buffer.length < 1) break
        this.rawBytes--
        messages.push({ type: 'raw', raw: buffer.subarray(0, 1) })
        this.#pending = buffer.subarray(1)
        continue
      }
      const header = this.startup ? 4 : 5
      if (buffer.length < header) break
      const length = this.startup ? buffer.readInt32BE(0) : buffer.readInt32BE(1) + 1
      if (buffer.length < length) break
      const raw = buffer.subarray(0, length)
      this.#pending = buffer.subarray(length)
      messages.push({ type: this.startup ? 'startup' : String.fromCharCode(raw[0] ?? 0), raw })
    }
    return messages
  }
}

/** Starts the proxy on a free loopback port, forwarding to `target`. */
export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  const fragments: string[] = []
  const drops: DroppedAnswer[] = []
  const sockets = new Set<Socket>()
  let open = 0

  const server = createServer((client) => {
    const upstream = tcpConnect({ host: target.host, port: target.port })
    client.setNoDelay(true)
    upstream.setNoDelay(true)
    sockets.add(client)
    sockets.add(upstream)
    open++
    const fromClient = new MessageReader(true)
    const fromServer = new MessageReader(false)
    /** Once the stream is TLS (the server accepted SSLRequest), nothing more can be read: bytes just pass. */
    let opaque = false
    let dropping: DroppedAnswer | undefined

    let closed = false
    const close = () => {
      if (closed) return
      closed = true
      open--
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    client.on('error', close)
    upstream.on('error', close)
    client.on('close', close)
    upstream.on('close', close)

    client.on('data', (chunk: Buffer) => {
      if (!opaque) {
        for (const message of fromClient.push(chunk)) {
          if (message.type === 'startup') {
            const code = message.raw.length >= 8 ? message.raw.readInt32BE(4) : 0
            // SSLRequest and GSSENCRequest are followed by the real startup message; each gets a one-byte answer.
            if (code === SSL_REQUEST || code === GSSENC_REQUEST) fromServer.rawBytes++
            else fromClient.startup = false
            continue
          }
          if ((message.type === 'P' || message.type === 'Q') && fragments.length > 0 && !dropping) {
            const text = message.raw.toString('utf8')
            const index = fragments.findIndex((fragment) => text.includes(fragment))
            if (index >= 0) {
              const [fragment = ''] = fragments.splice(index, 1)
              dropping = {
                fragment,
                carrier: message.type,
                withheld: [],
                transactionStatus: '',
                completed: false,
              }
            }
          }
        }
      }
      // The statement itself always reaches the server: only its answer is lost.
      upstream.write(chunk)
    })

    upstream.on('data', (chunk: Buffer) => {
      if (opaque) {
        client.write(chunk)
        return
      }
      for (const message of fromServer.push(chunk)) {
        if (message.type === 'raw' && message.raw[0] === 'S'.charCodeAt(0)) opaque = true
        if (!dropping) {
          client.write(message.raw)
          continue
        }
        dropping.withheld.push(message.type)
        if (message.type !== 'Z') continue
        // ReadyForQuery: the server has finished the statement (and, outside a transaction, committed it).
        dropping.transactionStatus = String.fromCharCode(message.raw[5] ?? 0)
        dropping.completed = dropping.withheld.includes('C') && !dropping.withheld.includes('E')
        drops.push(dropping)
        dropping = undefined
        close()
        return
      }
    })
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const address = server.address()
  if (typeof address !== 'object' || !address) throw new Error('the fault proxy has no port')

  return {
    port: address.port,
    address: `127.0.0.1:${address.port}`,
    arm(fragment) {
      fragments.push(fragment)
    },
    disarm() {
      fragments.length = 0
    },
    get armed() {
      return fragments.length > 0
    },
    drops,
    get openConnections() {
      return open
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}
