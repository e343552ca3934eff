import { sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/neon-serverless'
import { inject } from 'vitest'
import { connectDirect } from '#db/client'
import { inspectLegacyDatabase } from '#db/cutover/inspection'
import { type CutoverReport, createPlanTable, PLAN_TABLE, planCutover } from '#db/cutover/planner'
import type { CutoverRequest } from '#db/cutover/request'
import { OWNER_ROLE } from '#infra/local/roles'
import type { TestDatabase } from '#test/helpers/database'
import { testDatabase } from './database.ts'

/** The FastAPI backend's schema, exactly as its Alembic migration created it. */
export const ALEMBIC_DDL = `
CREATE TABLE users (id SERIAL NOT NULL, email VARCHAR NOT NULL, username VARCHAR, hashed_password VARCHAR NOT NULL,
  is_active BOOLEAN, is_superuser BOOLEAN, created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
  updated_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, PRIMARY KEY (id));
CREATE UNIQUE INDEX ix_users_email ON users (email); CREATE INDEX ix_users_id ON users (id);
CREATE UNIQUE INDEX ix_users_username ON users (username);
CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));
INSERT INTO alembic_version VALUES ('3f2a9c1d7b4e');
`

export interface LegacyDatabase {
  name: string
  /** The schema owner's connection string on it (what migrate and the cutover connect as). */
  ownerUrl: string
  /** The API role's. */
  apiUrl: string
  /** A handle as the owner, which made the old tables (so it owns them, as after pg_restore --no-owner). */
  owner: TestDatabase
}

const on = (injected: 'migrationUrl' | 'databaseUrl', name: string) => {
  const url = new URL(inject(injected))
  url.pathname = `/${name}`
  return url.toString()
}

/**
 * A new database on the test cluster, owned by the schema owner as the service's is, whose sessions default to a
 * time zone far from UTC (so a timestamp reinterpreted rather than converted shows), holding `ddl` run as the owner.
 */
export async function legacyDatabase(label: string, ddl = ALEMBIC_DDL): Promise<LegacyDatabase> {
  const name = `cutover_${label}_${process.pid}_${Date.now().toString(36)}`
  const admin = testDatabase()
  try {
    await admin.pool.query(`create database "${name}" owner ${OWNER_ROLE}`)
    await admin.pool.query(`alter database "${name}" set timezone to 'America/New_York'`)
  } finally {
    await admin.close()
  }
  const ownerUrl = on('migrationUrl', name)
  const owner = testDatabase(ownerUrl)
  if (ddl) await owner.pool.query(ddl)
  return { name, ownerUrl, apiUrl: on('databaseUrl', name), owner }
}

/** Drops the database, whoever is still connected. */
export async function dropDatabase(database: LegacyDatabase): Promise<void> {
  await database.owner.close()
  const admin = testDatabase()
  try {
    await admin.pool.query(`drop database if exists "${database.name}" with (force)`)
  } finally {
    await admin.close()
  }
}

/**
 * Everything an operator could see change: every relation and schema, the old table's rows (hashes included) and its
 * sequence. Equal before and after means nothing was changed.
 */
export async function snapshot(db: TestDatabase): Promise<Record<string, unknown>> {
  const relations = await db.pool.query(`
    select string_agg(n.nspname || '.' || c.relname || ':' || c.relkind::text, ',' order by n.nspname, c.relname) as list
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'`)
  const schemas = await db.pool.query(
    `select string_agg(nspname, ',' order by nspname) as list from pg_namespace where nspname not like 'pg_%'`,
  )
  const rows = await db.pool.query(`
    select count(*)::int as count, md5(string_agg(format('%s|%s|%s|%s|%s|%s|%s|%s', id, email, username,
      hashed_password, is_active, is_superuser, created_at, updated_at), ',' order by id)) as checksum
    from users`)
  const sequence = await db.pool.query(`select last_value::text, is_called from users_id_seq`)
  return {
    relations: relations.rows[0]?.list,
    schemas: schemas.rows[0]?.list,
    rows: rows.rows[0],
    sequence: sequence.rows[0],
  }
}

/** A row of the old table for a planner test: what the rules read, the rest filled in. */
export interface LegacyRowInput {
  id: number
  email: string
  username?: string | null
  active?: boolean
  /** Naive UTC, as the old code wrote it; also its created_at. */
  updatedAt?: string
  /** is_superuser NULL. */
  nullFlags?: boolean
  /** false: a hash that is no bcrypt hash. */
  bcrypt?: boolean
  /** The hash itself, for a test of what counts as one. */
  hash?: string
}

/** What the old backend's passlib wrote: the format is all the planner reads. */
const BCRYPT_SHAPED = `$2b$12$${'a'.repeat(53)}`

/** A row carried, as the plan copies it. */
export interface CarriedRow {
  id: number
  email: string
  username: string | null
  deactivate: boolean
}

/**
 * The cutover's planner run on `rows` in the old database, as the cutover runs it (the plan table made first, then a
 * read-only transaction, rolled back): its report, and the rows it would copy (none while a choice is open).
 */
export async function planOn(
  database: LegacyDatabase,
  rows: readonly LegacyRowInput[],
  decisions: Omit<CutoverRequest, 'apply'>,
): Promise<{ report: Omit<CutoverReport, 'outcome' | 'applied'>; carry: CarriedRow[] }> {
  await database.owner.pool.query('truncate users')
  if (rows.length > 0) {
    const values: unknown[] = []
    const tuples = rows.map((row) => {
      const updated = row.updatedAt ?? '2024-01-01T00:00:00.000000Z'
      values.push(
        row.id,
        row.email,
        row.username ?? null,
        row.hash ?? (row.bcrypt === false ? 'not a bcrypt hash' : BCRYPT_SHAPED),
        row.active ?? true,
        row.nullFlags ? null : false,
        updated,
      )
      const at = values.length - 7
      return `($${at + 1}, $${at + 2}, $${at + 3}, $${at + 4}, $${at + 5}, $${at + 6}, $${at + 7}, $${at + 7})`
    })
    await database.owner.pool.query(
      `insert into users (id, email, username, hashed_password, is_active, is_superuser, created_at, updated_at)
       values ${tuples.join(', ')}`,
      values,
    )
  }
  const client = await connectDirect(database.ownerUrl, inject('wsProxy'))
  try {
    const db = drizzle({ client })
    await createPlanTable(db)
    await db.execute(sql`begin transaction isolation level repeatable read, read only`)
    try {
      const report = await planCutover(db, await inspectLegacyDatabase(db), decisions)
      const carry =
        report.undecided.length > 0
          ? []
          : (
              await db.execute<{
                id: number
                email: string
                username: string | null
                deactivate: boolean
              }>(sql`
                select id, new_email as email, new_username as username, deactivate from ${PLAN_TABLE}
                where fate is distinct from 'merged' order by id`)
            ).rows
      return { report, carry: carry.map((row) => ({ ...row })) }
    } finally {
      await db.execute(sql`rollback`)
    }
  } finally {
    await client.end()
  }
}
