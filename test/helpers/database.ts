import { sql } from 'drizzle-orm'
import { drizzle, type NeonDatabase } from 'drizzle-orm/neon-serverless'
import { inject } from 'vitest'
import { createDatabase, type Database, type DatabaseHandle } from '#db/client'
import * as schema from '#db/schema'

/** The service's handle, with drizzle's full database object on its pool: tests arrange rows with the query builder. */
export type TestDatabase = Omit<DatabaseHandle, 'db'> & {
  db: NeonDatabase<typeof schema>
  /** The service's own executor on the same pool, for a repository under test. */
  service: DatabaseHandle['db']
}

/**
 * A handle on the service's database as the cluster's superuser (or on another database of the cluster), through the
 * Neon driver: tests look at and arrange rows the API's role may not touch.
 */
export function testDatabase(url = superuserOn('papa_auth')): TestDatabase {
  const handle = createDatabase({ url, wsProxy: inject('wsProxy'), connectTimeoutMs: 3000, poolMax: 4 })
  return { ...handle, service: handle.db, db: drizzle({ client: handle.pool, schema }) }
}

/** The superuser's connection string for `database` on the test cluster: a one-role setup, as a developer's own. */
export function superuserOn(database: string): string {
  const url = new URL(inject('superuserUrl'))
  url.pathname = `/${database}`
  return url.toString()
}

/**
 * Every `table.column` of the service's schema whose text holds `needle` (case-insensitive), read as the cluster's
 * superuser: what is left of an address anywhere, after an erasure.
 */
export async function columnsHolding(db: Database, needle: string): Promise<string[]> {
  const columns = await db.execute<{ table_name: string; column_name: string }>(sql`
    select table_name, column_name from information_schema.columns
    where table_schema = 'public' and data_type in ('character varying', 'text', 'jsonb')`)
  const found: string[] = []
  for (const { table_name, column_name } of columns.rows) {
    const result = await db.execute<{ count: number }>(
      sql`select count(*)::int as count from ${sql.identifier(table_name)}
          where ${sql.identifier(column_name)}::text ilike ${`%${needle}%`}`,
    )
    if ((result.rows[0]?.count ?? 0) > 0) found.push(`${table_name}.${column_name}`)
  }
  return found
}

/**
 * Waits until at least `count` backends whose current statement's text contains `fragment` wait for a lock behind
 * `behind` (the test's own backend holding it: directly, or behind another backend that waits behind it), as
 * `pg_stat_activity` and `pg_blocking_pids` show them (read as the cluster's superuser, who sees every backend). A race
 * test's proof that a statement is queued behind the lock it claims, where a sleep would only assume it. Only the
 * queue behind `behind` counts: test files run in parallel on one cluster, and another file's statement of the same
 * text, waiting on a lock of its own, must not stand in for this test's. It fails after `timeoutMs`, naming what
 * those backends were doing instead. The view keeps a statement's first 1024 bytes only (`track_activity_query_size`):
 * the fragment must come early in it.
 */
export async function waitUntilBlocked(
  db: Database,
  fragment: string,
  { behind, count = 1, timeoutMs = 10_000 }: { behind: number; count?: number; timeoutMs?: number },
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    // The fragment is a parameter, so this statement's own text never matches it.
    const { rows } = await db.execute<{
      state: string | null
      wait_event_type: string | null
      wait_event: string | null
    }>(
      sql`with recursive queue (pid) as (
            select ${behind}::int
            union
            select a.pid from pg_stat_activity a join queue on queue.pid = any (pg_blocking_pids(a.pid))
          )
          select state, wait_event_type, wait_event from pg_stat_activity
          where pid in (select pid from queue) and pid <> ${behind}::int and strpos(query, ${fragment}) > 0`,
    )
    if (rows.filter((row) => row.state === 'active' && row.wait_event_type === 'Lock').length >= count) return
    if (Date.now() > deadline) {
      const busy = await db.execute(
        sql`select pid, state, wait_event_type, wait_event, left(query, 200) as query from pg_stat_activity
            where pid <> pg_backend_pid() and state <> 'idle' and backend_type = 'client backend'`,
      )
      throw new Error(
        `fewer than ${count} statements containing "${fragment}" waited for a lock within ${timeoutMs} ms: ${JSON.stringify(rows)}; busy: ${JSON.stringify(busy.rows)}`,
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** A request of a race and the text of its statement that queues on the row (in its first 1 KB). */
export interface Racer<T> {
  run: () => Promise<T>
  statement: string
}

/**
 * Runs racers in a chosen order at one row's lock: `lock` (a `select … for update` of the row) is held by a
 * transaction of the test, each racer starts once every one before it is proven queued (`waitUntilBlocked`), and then
 * the lock is let go. PostgreSQL grants the row to the first racer queued, every racer still in flight at once: so
 * which one comes first is forced. Of more than two, only the first: once it has updated the row, the others race for
 * the row's new version whatever their order in the queue (a clean-clone CI run saw [tab, logout, tab] come as
 * [tab, tab, logout]). Answers each racer's result, in the order given. The racers' statements must
 * run on another pool than `handle`'s, which holds the lock and watches: on one pool they could take every connection.
 */
export async function inLockOrder<const R extends readonly Racer<unknown>[]>(
  handle: { db: Database; pool: DatabaseHandle['pool'] },
  lock: { text: string; values: unknown[] },
  racers: R,
): Promise<{ [K in keyof R]: Awaited<ReturnType<R[K]['run']>> }> {
  const holder = await handle.pool.connect()
  try {
    await holder.query('begin')
    await holder.query(lock.text, lock.values)
    const { rows } = await holder.query<{ pid: number }>('select pg_backend_pid() as pid')
    const behind = Number(rows[0]?.pid)
    const answers: Promise<unknown>[] = []
    for (const [index, racer] of racers.entries()) {
      answers.push(racer.run())
      const alike = racers.slice(0, index + 1).filter((other) => other.statement === racer.statement).length
      await waitUntilBlocked(handle.db, racer.statement, { behind, count: alike })
    }
    await holder.query('rollback')
    // Promise.all keeps the order it was given, which is the racers' order: the mapped type says the same.
    return (await Promise.all(answers)) as { [K in keyof R]: Awaited<ReturnType<R[K]['run']>> }
  } finally {
    // A racer never proven queued leaves the transaction open: it must not go back to the pool holding the lock.
    await holder.query('rollback').catch(() => undefined)
    holder.release()
  }
}
