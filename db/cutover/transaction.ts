/**
 * The cutover's one transaction: the dry run plans and reports in a read-only one (the plan goes to a temporary table
 * made before it); the apply takes the migration lock and the old table's, plans, renames the old table and what
 * belongs to it `legacy_*`, applies and records the committed migrations as `migrate` does, copies the rows the plan
 * carries with one insert … select, repoints other tables' foreign keys and views when asked, and moves the id
 * sequence past every id the old backend handed out. Any error rolls all of it back. No table is read into Node.
 */
import { sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/neon-serverless'
import { connectDirect } from '../client.ts'
import { sqlState } from '../errors.ts'
import { committedMigrations, MIGRATION_LOCK_KEY } from '../migrate.ts'
import {
  countStrandedRows,
  describeReference,
  findInboundReferences,
  type InboundReference,
  repointInbound,
} from './inbound.ts'
import { type Executor, inspectLegacyDatabase, type LegacyTable } from './inspection.ts'
import { type CutoverReport, createPlanTable, inboundReport, PLAN_TABLE, planCutover } from './planner.ts'
import { CutoverError, type CutoverRequest, LEGACY_PREFIX, LEGACY_TABLE, refused } from './request.ts'

const MEANING: Record<string, string> = {
  '42501': 'permission denied',
  '42P07': 'a relation of that name exists already',
  '42710': 'an object of that name exists already',
  '42723': 'a function of that name exists already',
  '23505': 'a value that must be unique is taken',
  '55P03': 'a lock was not granted in time',
  '57014': 'cancelled by a timeout',
}

/** Runs one step of the cutover; a database error becomes the step's name and the SQLSTATE, never the SQL. */
async function step<T>(what: string, action: () => Promise<T>): Promise<T> {
  try {
    return await action()
  } catch (error) {
    if (error instanceof CutoverError) throw error
    const code = sqlState(error)
    const name = error instanceof Error ? error.name : typeof error
    const reason = code ? `SQLSTATE ${code}${MEANING[code] ? ` (${MEANING[code]})` : ''}` : name
    throw new CutoverError(`cutover failed while ${what}: ${reason}; nothing was changed`)
  }
}

export interface CutoverOptions {
  /** The schema owner's direct connection (the database secret's directUrl, or DATABASE_MIGRATION_URL). */
  url: string
  wsProxy?: string | undefined
  request: CutoverRequest
  /** How long to wait for a concurrent migrate's lock and for the old table (the FastAPI backend's sessions). */
  lockWaitMs: number
  migrationsFolder?: string
}

/**
 * The dry run (`apply` false: a read-only transaction, the report of every row that cannot be carried as it is) or
 * the apply (one transaction: refused while a conflict's flag is not chosen; any error rolls all of it back).
 */
export async function runCutover(options: CutoverOptions): Promise<CutoverReport> {
  const client = await connectDirect(options.url, options.wsProxy)
  try {
    const db = drizzle({ client })
    // The copy may run long: no statement timeout, whatever the database's defaults; lock waits are bounded.
    await db.execute(sql`set statement_timeout = 0`)
    await db.execute(sql.raw(`set lock_timeout = ${Math.max(1, Math.trunc(options.lockWaitMs))}`))
    // Made outside the transaction, so that the read-only dry run may fill it; it goes with the session.
    await createPlanTable(db)
    await db.execute(
      options.request.apply ? sql`begin` : sql`begin transaction isolation level repeatable read, read only`,
    )
    try {
      const report = options.request.apply ? await apply(db, options) : await dryRun(db, options.request)
      await db.execute(options.request.apply ? sql`commit` : sql`rollback`)
      return report
    } catch (error) {
      await db.execute(sql`rollback`).catch(() => undefined)
      throw error
    }
  } finally {
    await client.end()
  }
}

async function dryRun(db: Executor, request: CutoverRequest): Promise<CutoverReport> {
  const table = await step('reading the database', () => inspectLegacyDatabase(db))
  const { report } = await plan(db, table, request)
  return { outcome: 'dry run', ...report }
}

/** The plan, in the database, and the report of it, with what references users from elsewhere. */
async function plan(db: Executor, table: LegacyTable, request: CutoverRequest) {
  const report = await step('planning the users', () => planCutover(db, table, request))
  const references = await step('finding what references users', async () =>
    countStrandedRows(db, await findInboundReferences(db)),
  )
  return { report: inboundReport(report, references, request.inbound), references }
}

/**
 * Refuses an apply that would leave another table's foreign key or a view on the renamed old table (inbound not
 * `repoint`), or that cannot move one of them, naming each.
 */
function refuseInbound(references: readonly InboundReference[], choice: CutoverRequest['inbound']) {
  if (references.length === 0) return
  if (choice !== 'repoint')
    throw refused(
      `other objects reference users, and would silently follow the old table to ${LEGACY_TABLE}: ${references.map(describeReference).join('; ')}: choose inbound repoint (--inbound=repoint) to move them to the new users table, or drop them first; nothing was changed`,
    )
  const blocked = references.flatMap((reference) => {
    const stranded = reference.kind === 'foreign key' ? reference.rowsWithoutCarriedUser : null
    const why =
      reference.cannotRepoint ??
      (stranded
        ? `${stranded} of its row(s) reference a user who is not carried (a duplicate emailCollisions merge leaves in ${LEGACY_TABLE}; it is not reassigned to the row kept): choose emailCollisions deactivate, or move or delete those rows first`
        : undefined)
    return why ? [`${describeReference(reference)}: ${why}`] : []
  })
  if (blocked.length > 0)
    throw refused(`cannot repoint what references users, nothing was changed: ${blocked.join('; ')}`)
}

async function apply(db: Executor, options: CutoverOptions): Promise<CutoverReport> {
  const lockWait = `${options.lockWaitMs} ms`
  await step('waiting for the migration lock', async () => {
    try {
      await db.execute(sql`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`)
    } catch (error) {
      if (sqlState(error) !== '55P03') throw error
      throw new CutoverError(
        `cutover failed: a migrate held the migration lock for more than ${lockWait}; run again once it has finished; nothing was changed`,
      )
    }
  })
  // Refused before the lock: locking a database that is not the old one (this service's) would stall its API.
  await step('reading the database', () => inspectLegacyDatabase(db))
  await step('locking the users table', async () => {
    try {
      await db.execute(sql`lock table public.users in access exclusive mode`)
    } catch (error) {
      if (sqlState(error) !== '55P03') throw error
      throw new CutoverError(
        `cutover failed: the users table stayed in use for more than ${lockWait} (is the FastAPI backend still running?): stop what uses it and run again; nothing was changed`,
      )
    }
  })
  // Read again under the lock: the report the apply acts on is the table as it is now.
  const table = await step('reading the database', () => inspectLegacyDatabase(db))
  const { report, references } = await plan(db, table, options.request)
  if (report.undecided.length > 0)
    throw refused(`a conflict has no chosen flag, nothing was changed: ${report.undecided.join('; ')}`)
  refuseInbound(references, options.request.inbound)

  await step(`renaming users and what belongs to it to ${LEGACY_PREFIX}*`, async () => {
    await db.execute(sql`alter table public.users rename to ${sql.identifier(LEGACY_TABLE)}`)
    for (const { kind, schema, name } of table.renames) {
      const from = sql`${sql.identifier(schema)}.${sql.identifier(name)}`
      const to = sql.identifier(`${LEGACY_PREFIX}${name}`)
      await db.execute(
        kind === 'index'
          ? sql`alter index ${from} rename to ${to}`
          : sql`alter sequence ${from} rename to ${to}`,
      )
    }
    for (const name of table.constraints) {
      await db.execute(
        sql`alter table ${sql.identifier('public')}.${sql.identifier(LEGACY_TABLE)} rename constraint ${sql.identifier(name)} to ${sql.identifier(`${LEGACY_PREFIX}${name}`)}`,
      )
    }
  })

  // Recorded exactly as db/migrate.ts records them, so migrate continues from here. A migration marked
  // no-transaction (and every one after it) is left to the migrate run after the commit.
  const committed = committedMigrations(options.migrationsFolder)
  const firstOutside = committed.findIndex((migration) => !migration.inTransaction)
  const inCutover = firstOutside === -1 ? committed : committed.slice(0, firstOutside)
  await step('creating the migrations journal', async () => {
    await db.execute(sql`create schema if not exists drizzle`)
    await db.execute(sql`create table if not exists drizzle.__drizzle_migrations (
      id serial primary key, hash text not null, created_at bigint)`)
  })
  for (const migration of inCutover) {
    await step(`applying migration ${migration.tag}`, async () => {
      for (const statement of migration.sql) await db.execute(sql.raw(statement))
      await db.execute(sql`insert into drizzle.__drizzle_migrations (hash, created_at)
        values (${migration.hash}, ${migration.folderMillis})`)
    })
  }

  await step('copying the users', () => copyCarriedRows(db, table, report.conversion.carried))
  const repointed = await step('repointing what references users', () => repointInbound(db, references))

  // Past the highest id and past the old sequence: no id the old backend ever handed out is given again.
  const idsContinueAfter = await step('moving the id sequence', async () => {
    const last = await db.execute<{ last: string }>(sql`
      select greatest(coalesce((select max(id) from public.${sql.identifier(LEGACY_TABLE)}), 0),
        coalesce(pg_sequence_last_value(pg_get_serial_sequence(${`public.${LEGACY_TABLE}`}, 'id')::regclass), 0)
      )::bigint::text as last`)
    const value = Number(last.rows[0]?.last ?? 0)
    if (value > 0)
      await db.execute(sql`select setval(pg_get_serial_sequence('public.users', 'id'), ${value})`)
    return value
  })

  return {
    outcome: 'applied',
    ...report,
    applied: {
      legacyTable: LEGACY_TABLE,
      migrationsInCutover: inCutover.length,
      idsContinueAfter,
      repointed,
      dropLater: `once nothing needs the old rows: drop table ${LEGACY_TABLE} (its sequence goes with it) and alembic_version`,
    },
  }
}

/** Copies the planned rows from the renamed old table into this service's in one statement, checking the count. */
async function copyCarriedRows(db: Executor, table: LegacyTable, planned: number) {
  const copied = await db.execute(sql`
    insert into public.users (id, email, username, hashed_password, is_active, is_superuser, created_at,
      updated_at, password_carried_over)
    select l.id, p.new_email, p.new_username, l.hashed_password, coalesce(l.is_active, false) and not p.deactivate,
      coalesce(l.is_superuser, false), coalesce(${table.createdAt}, ${table.updatedAt}, now()),
      coalesce(${table.updatedAt}, ${table.createdAt}, now()), true
    from ${PLAN_TABLE} p join public.${sql.identifier(LEGACY_TABLE)} l on l.id = p.id
    where p.fate is distinct from 'merged'`)
  if (copied.rowCount !== planned)
    throw new CutoverError(
      `cutover failed: ${copied.rowCount ?? 0} rows were copied where ${planned} were planned; nothing was changed`,
    )
}
