import {
  Client,
  type ClientConfig,
  neonConfig,
  Pool,
  type PoolConfig,
  type QueryResult,
  type QueryResultRow,
  types,
} from '@neondatabase/serverless'
import type { SQL, SQLWrapper } from 'drizzle-orm'
import { CasingCache } from 'drizzle-orm/casing'
import { DatabaseUnavailableError } from '#shared/domain/errors'
import { remainingMs } from '#shared/platform/deadline'
import { isRetryableStatementError, isStatementError, isUnavailable, sqlState } from './errors.ts'

/**
 * What the repositories need of drizzle: its `sql` templates (with the schema's tables and columns in them), run as
 * one statement each. drizzle's own database object carries its query builders, relational queries and dialect
 * (some 60 KB of every function's bundle, and of its cold start) for an `execute` this does the same way.
 */
export interface Database {
  execute<T extends QueryResultRow = QueryResultRow>(query: SQLWrapper): Promise<QueryResult<T>>
}

export type { QueryResult, QueryResultRow }

/** A string as an SQL literal, quoted by the driver's own `escapeLiteral` (node-postgres'; it reads no connection). */
export const escapeLiteral = (text: string): string => Client.prototype.escapeLiteral.call(null, text)

/** drizzle's PostgreSQL quoting, so a statement reads exactly as drizzle's `execute` would send it. */
const QUERY_CONFIG = {
  casing: new CasingCache(),
  escapeName: (name: string) => `"${name.replace(/"/g, '""')}"`,
  escapeParam: (index: number) => `$${index + 1}`,
  escapeString: (value: string) => `'${value.replace(/'/g, "''")}'`,
}

/**
 * As drizzle's Neon session reads results: dates, times and intervals (and arrays of them) as the server's text, the
 * rest with the driver's parsers.
 */
const AS_TEXT = new Set([1082, 1114, 1184, 1186, 1182, 1115, 1185, 1187, 1231])
export const RESULT_TYPES = {
  getTypeParser: ((typeId: number, format?: 'text' | 'binary') =>
    AS_TEXT.has(typeId)
      ? (value: string) => value
      : types.getTypeParser(typeId, format)) as typeof types.getTypeParser,
}

/** A drizzle `sql` template as the text and parameters a statement is sent with. */
export function toStatement(query: SQLWrapper): { text: string; values: unknown[] } {
  const { sql, params } = (query.getSQL() as SQL).toQuery(QUERY_CONFIG)
  return { text: sql, values: params }
}

export interface DatabaseSettings {
  url: string
  /** `host:port` of a WebSocket-to-TCP proxy in front of a plain Postgres (the local stack and the tests). */
  wsProxy?: string | undefined
  connectTimeoutMs: number
  /** A statement that gets no answer for this long fails (and its connection is dropped) instead of hanging. */
  queryTimeoutMs?: number | undefined
  poolMax: number
}

export interface DatabaseHandle {
  db: Database
  pool: Pool
  close(): Promise<void>
  /**
   * Starts opening a connection before any query needs it; a query that comes meanwhile waits for that one. Settles
   * (never rejects) once that connection is open, or could not be opened.
   */
  warm(): Promise<void>
}

/** Points the Neon driver at a local WebSocket proxy: plain `ws://`, no TLS inside, no pipelined startup. */
export function useLocalWebSocketProxy(proxy: string): void {
  neonConfig.wsProxy = (host, port) => `${proxy}/v2?address=${host}:${port}`
  neonConfig.useSecureWebSocket = false
  neonConfig.pipelineConnect = false
  neonConfig.pipelineTLS = false
  neonConfig.forceDisablePgSSL = true
}

/** One unpooled connection (migrations, which hold a session advisory lock); the caller ends it. */
export async function connectDirect(url: string, wsProxy?: string | undefined): Promise<Client> {
  if (wsProxy) useLocalWebSocketProxy(wsProxy)
  const client = new Client({ connectionString: url })
  // A server's notice on an idle connection would otherwise crash the process; the next query reports it.
  client.on('error', () => {})
  await client.connect()
  return client
}

let CoalescingWebSocket: typeof WebSocket | undefined

/**
 * Node's WebSocket, sending what is written in one synchronous burst (node-postgres writes a query as several
 * messages) as a single frame, flushed on a microtask. Made on first use: touching `WebSocket` loads undici.
 */
function coalescingWebSocket(): typeof WebSocket {
  CoalescingWebSocket ??= class extends WebSocket {
    #pending: Uint8Array[] = []

    override send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
      if (!(data instanceof Uint8Array) || this.readyState !== WebSocket.OPEN) {
        this.#flush()
        super.send(data as Parameters<WebSocket['send']>[0])
        return
      }
      if (this.#pending.push(data) === 1) queueMicrotask(() => this.#flush())
    }

    #flush() {
      if (this.#pending.length === 0) return
      const chunks = this.#pending
      this.#pending = []
      super.send(
        (chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)) as Parameters<WebSocket['send']>[0],
      )
    }
  }
  return CoalescingWebSocket
}

/**
 * Loads what the first connection needs before there is one to open: Node's WebSocket client (undici, some 20 ms of
 * CPU on first use). A cold start whose connection string is still on its way (in a secret) does it meanwhile.
 */
export function preloadDriver(): void {
  coalescingWebSocket()
}

/**
 * One pool per container, made once at cold start and reused by every warm invocation. A connection that died
 * while the container was frozen (Neon closes idle sockets) is dropped by the pool; a query that lands on such a
 * socket before the pool notices is retried once, on a fresh connection.
 */
export function createDatabase(settings: DatabaseSettings): DatabaseHandle {
  if (settings.wsProxy) useLocalWebSocketProxy(settings.wsProxy)
  // The driver's own write coalescing holds every outgoing message for a setTimeout(0), which Node rounds up to
  // 1 ms: a millisecond added to every round trip, several times the whole query on a nearby database (npm run
  // bench). Not coalescing at all costs a frame and a write per message, six for a query with parameters; so the
  // socket coalesces instead, until the end of the current task.
  neonConfig.coalesceWrites = false
  neonConfig.webSocketConstructor = coalescingWebSocket()
  const pool = new BoundedConnectPool(
    { connectionString: settings.url, max: settings.poolMax, idleTimeoutMillis: 60_000 },
    settings.connectTimeoutMs,
    settings.queryTimeoutMs,
  )
  // An idle client that errors (socket closed under it) is removed by the pool; without a listener, the 'error'
  // event would crash the process.
  pool.on('error', () => {})
  // pg-pool listens only on idle clients: one checked out, between its last message and its release, has no
  // listener, and a server's shutdown notice (57P01) arriving then would crash the process. The query in flight
  // still gets its error; the pool drops the client when it is released.
  pool.on('connect', (client: Client) => client.on('error', () => {}))

  // The connection `warm` is opening. The pool would open a second one for a query that cannot find an idle
  // connection, so a query waits for this one instead, and shares its outcome: a failure to connect is reported
  // within one connect timeout, as if the query had tried itself.
  let opening: Promise<void> | undefined
  const warm = (): Promise<void> => {
    const attempt = opening ?? pool.connect().then((client) => client.release())
    if (!opening) {
      opening = attempt
      const settled = () => {
        if (opening === attempt) opening = undefined
      }
      attempt.then(settled, settled)
    }
    return attempt.then(
      () => {},
      () => {},
    )
  }

  // pool.query would release the client with the query's error, and pg-pool destroys any client released with an
  // error: a unique violation (every lost registration race) would cost a connection and a new handshake. Here a
  // statement error returns the connection to the pool; only a broken connection is discarded.
  const runQuery = async (args: unknown[]) => {
    const client = await pool.connect()
    // Sent only if the server would give up on it (statement_timeout, then the client's timer) before the
    // invocation's deadline: a statement still running when the function answers 503 could commit after it.
    if (settings.queryTimeoutMs !== undefined && remainingMs() < settings.queryTimeoutMs) {
      client.release()
      throw new DatabaseUnavailableError()
    }
    try {
      const result = await (client.query as (...queryArgs: unknown[]) => Promise<unknown>)(...args)
      client.release()
      return result
    } catch (error) {
      client.release(isStatementError(error) ? undefined : (error as Error))
      throw new QueryPhaseError(error)
    }
  }
  ;(pool as { query: unknown }).query = async (...args: unknown[]) => {
    if (opening) await opening
    try {
      return await runQuery(args)
    } catch (failure) {
      // A failure to connect is the database being away: answered at once (503), not retried.
      if (!(failure instanceof QueryPhaseError)) throw failure
      const { error } = failure
      // Safe to send again because every statement the repositories write is idempotent on a key the service made
      // (an attempt id, a session id, a token hash, a salted password hash): one that did commit before its answer
      // was lost is found, not applied twice.
      if (!isStaleConnection(error) && !isRetryableStatementError(error)) throw error
      return runQuery(args).catch((again: unknown) => {
        throw again instanceof QueryPhaseError ? again.error : again
      })
    }
  }

  const db: Database = {
    execute: (query) => {
      const { text, values } = toStatement(query)
      return pool.query({ text, types: RESULT_TYPES }, values)
    },
  }
  return { db, pool, close: () => pool.end(), warm }
}

/** An error raised after a connection was had: by the statement, or by the connection dying under it. */
class QueryPhaseError {
  readonly error: unknown
  constructor(error: unknown) {
    this.error = error
  }
}

/**
 * A pool whose connect attempts, and only those, are bounded in time. node-postgres uses one setting,
 * `connectionTimeoutMillis`, both for opening a connection and for waiting in the pool's queue; a queue wait is not
 * a sign that the database is gone (locally, many requests share one process and one CPU), so it gets no timer,
 * while an unreachable database still fails within `connectTimeoutMs` instead of hanging.
 */
class BoundedConnectPool extends Pool {
  constructor(config: PoolConfig, connectTimeoutMs: number, queryTimeoutMs: number | undefined) {
    super(config)
    const BoundedClient = class extends Client {
      constructor(clientConfig: ClientConfig) {
        super({ ...clientConfig, connectionTimeoutMillis: connectTimeoutMs, query_timeout: queryTimeoutMs })
      }
    }
    // NeonPool assigns its own Client class after pg-pool reads `options.Client`, so it is replaced here.
    ;(this as unknown as { Client: typeof Client }).Client = BoundedClient
  }
}

/**
 * A connection that died under the statement: closed under a frozen container, ended by the server (57P01 admin
 * shutdown, 57P02 crash, class 08), or cut after the statement was sent, in which case it may have committed. Such
 * a statement is retried once on a fresh connection.
 */
function isStaleConnection(error: unknown): boolean {
  if (!isUnavailable(error)) return false
  if (/^(57P0[12]|08)/.test(sqlState(error) ?? '')) return true
  // The driver rejects a query whose WebSocket dies under it with the bare ErrorEvent: no message, type 'error'.
  if ((error as { type?: unknown } | null)?.type === 'error') return true
  const message = error instanceof Error ? error.message : ''
  return /Connection terminated|Client has encountered a connection error|not queryable|WebSocket.*clos/i.test(
    message,
  )
}
