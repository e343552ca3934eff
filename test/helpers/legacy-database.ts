import { inject } from 'vitest'
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
