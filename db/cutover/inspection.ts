/**
 * What the old database holds, read inside the cutover's transaction: whether it is the FastAPI backend's as it was
 * left (and the connected role may carry it over), and its users table's shape.
 */
import { type SQL, sql } from 'drizzle-orm'
import type { NeonDatabase } from 'drizzle-orm/neon-serverless'
import { LEGACY_PREFIX, LEGACY_TABLE, refused } from './request.ts'

/** The old backend's columns, all of which the copy reads. */
const LEGACY_COLUMNS = [
  'id',
  'email',
  'username',
  'hashed_password',
  'is_active',
  'is_superuser',
  'created_at',
  'updated_at',
] as const
/** Tables this service's migrations create besides `users`: a database holding one is not the FastAPI one. */
const SERVICE_TABLES = ['sessions', 'refresh_tokens', 'login_attempts', 'rate_limits', 'security_events']

export type Executor = Pick<NeonDatabase, 'execute'>

export interface LegacyTable {
  /** The expressions that read `created_at` and `updated_at` of alias `l` as timestamptz. */
  createdAt: SQL
  updatedAt: SQL
  /** The old table's indexes and sequences, and the names they get. */
  renames: { kind: 'index' | 'sequence'; schema: string; name: string }[]
  /** Its constraints that are not an index's (checks, foreign keys). */
  constraints: string[]
}

/** A timestamp column read as an instant: one without a time zone is UTC by the old code's convention. */
function instant(column: string, type: string | undefined): SQL {
  const ref = sql.raw(`l.${JSON.stringify(column)}`)
  if (type === 'timestamp with time zone') return ref
  if (type === 'timestamp without time zone') return sql`(${ref} at time zone 'UTC')`
  throw refused(
    `users.${column} is of type ${type ?? 'none'}, not a timestamp: not the table the cutover expects`,
  )
}

/**
 * Checks that the database is the FastAPI backend's, not yet cut over, and that the connected role may carry it
 * over; describes its users table. Refuses, with the reason, anything else.
 */
export async function inspectLegacyDatabase(db: Executor): Promise<LegacyTable> {
  const state = await db.execute<{
    users: boolean
    legacy: boolean
    journal: boolean
    service_tables: string | null
  }>(
    sql.raw(`select to_regclass('public.users') is not null as users,
      to_regclass('public.${LEGACY_TABLE}') is not null as legacy,
      to_regclass('drizzle.__drizzle_migrations') is not null as journal,
      (select string_agg(name, ', ' order by name)
        from unnest(array[${SERVICE_TABLES.map((name) => `'${name}'`).join(', ')}]) as name
        where to_regclass('public.' || name) is not null) as service_tables`),
  )
  const found = state.rows[0]
  if (!found) throw refused('the database did not answer what it holds')
  if (found.legacy)
    throw refused(
      `the database is already cut over: ${LEGACY_TABLE} (the FastAPI table) exists; nothing to do`,
    )
  if (found.journal) {
    const journal = await db.execute<{ count: number }>(
      sql`select count(*)::int as count from drizzle.__drizzle_migrations`,
    )
    const count = journal.rows[0]?.count ?? 0
    if (count > 0)
      throw refused(
        `the database is already this service's: ${count} migration(s) are recorded; nothing to carry over`,
      )
  }
  if (found.service_tables)
    throw refused(
      `the database already holds this service's table(s) ${found.service_tables}: not the FastAPI backend's database as it was left`,
    )
  if (!found.users)
    throw refused(
      'the database has no users table: it is empty, not the FastAPI backend’s (migrate sets up an empty database)',
    )

  const columns = await db.execute<{ name: string; type: string }>(sql`
    select attname as name, format_type(atttypid, atttypmod) as type from pg_attribute
    where attrelid = 'public.users'::regclass and attnum > 0 and not attisdropped`)
  const types = new Map(columns.rows.map((column) => [column.name, column.type]))
  if (types.has('password_carried_over'))
    throw refused(
      "users is already this service's table (it has password_carried_over); nothing to carry over",
    )
  const missing = LEGACY_COLUMNS.filter((name) => !types.has(name))
  if (missing.length > 0)
    throw refused(
      `users lacks the FastAPI backend's column(s) ${missing.join(', ')}: not the table the cutover expects`,
    )
  const createdAt = instant('created_at', types.get('created_at'))
  const updatedAt = instant('updated_at', types.get('updated_at'))

  const owner = await db.execute<{ owner: string; me: string; owns: boolean }>(sql`
    select pg_get_userbyid(relowner) as owner, current_user as me, pg_has_role(relowner, 'MEMBER') as owns
    from pg_class where oid = 'public.users'::regclass`)
  const [table] = owner.rows
  if (table && !table.owns)
    throw refused(
      `users belongs to the role ${table.owner}, and the cutover connects as ${table.me}: connect as its owner, or give it to ${table.me} first (ALTER TABLE users OWNER TO ${table.me})`,
    )

  const related = await db.execute<{
    kind: 'index' | 'sequence'
    schema: string
    name: string
    taken: boolean
  }>(
    sql`
    select case c.relkind when 'S' then 'sequence' else 'index' end as kind, n.nspname as schema,
      c.relname as name,
      to_regclass(format('%I.%I', n.nspname, ${sql.raw(`'${LEGACY_PREFIX}'`)} || c.relname)) is not null as taken
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.oid in (select indexrelid from pg_index where indrelid = 'public.users'::regclass)
      or (c.relkind = 'S' and c.oid in (
        select objid from pg_depend where classid = 'pg_class'::regclass and refclassid = 'pg_class'::regclass
          and refobjid = 'public.users'::regclass and deptype in ('a', 'i')))
    order by c.relname`,
  )
  const taken = related.rows.filter((relation) => relation.taken)
  if (taken.length > 0)
    throw refused(
      `${taken.map((relation) => `${LEGACY_PREFIX}${relation.name}`).join(', ')} exist(s) already, the name(s) the old table's ${taken.map((relation) => relation.name).join(', ')} would take: rename or drop them first`,
    )
  const constraints = await db.execute<{ name: string }>(sql`
    select conname as name from pg_constraint
    where conrelid = 'public.users'::regclass and contype in ('c', 'f', 't') order by conname`)
  return {
    createdAt,
    updatedAt,
    renames: related.rows.map(({ kind, schema, name }) => ({ kind, schema, name })),
    constraints: constraints.rows.map((constraint) => constraint.name),
  }
}
