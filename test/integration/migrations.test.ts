import { cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateDrizzleJson, generateMigration } from 'drizzle-kit/api'
import { sql } from 'drizzle-orm'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { connectDirect } from '#db/client'
import { sqlState } from '#db/errors'
import { defaultMigrationsFolder, MigrationLockTimeoutError, runMigrations } from '#db/migrate'
import * as schema from '#db/schema'
import { handler as migrate } from '#functions/migrate'
import { migrationLimits } from '#shared/app/operations'
import { loadSettings } from '#shared/platform/config'
import { superuserOn, testDatabase } from '#test/helpers/database'

const database = testDatabase()
afterAll(() => database.close())

const migrationsFolder = defaultMigrationsFolder()
const limits = migrationLimits(loadSettings())
const journal = JSON.parse(readFileSync(join(migrationsFolder, 'meta', '_journal.json'), 'utf8')) as {
  entries: { tag: string }[]
}

/** A new, empty database on the test server, and its connection string. */
async function freshDatabase(): Promise<string> {
  const name = `migrate_${process.pid}_${Date.now().toString(36)}`
  await database.db.execute(sql.raw(`create database "${name}"`))
  return superuserOn(name)
}

describe('migrations', () => {
  it('agree with db/schema.ts: generating from the schema adds nothing to the last snapshot', async () => {
    const snapshots = readdirSync(join(migrationsFolder, 'meta'))
      .filter((file) => file.endsWith('_snapshot.json'))
      .sort()
    const last = JSON.parse(readFileSync(join(migrationsFolder, 'meta', snapshots.at(-1) ?? ''), 'utf8'))
    const current = generateDrizzleJson(schema as unknown as Record<string, unknown>, last.id)
    expect(await generateMigration(last, current)).toEqual([])
  })

  it('commit a SQL file for every journal entry', () => {
    const files = readdirSync(migrationsFolder)
      .filter((file) => file.endsWith('.sql'))
      .sort()
    expect(files).toEqual(journal.entries.map((entry) => `${entry.tag}.sql`))
  })

  it('apply once when two runs start at the same time, and a third run applies nothing', async () => {
    const url = await freshDatabase()
    const wsProxy = inject('wsProxy')
    const [first, second] = await Promise.all([
      runMigrations({ url, wsProxy, limits }),
      runMigrations({ url, wsProxy, limits }),
    ])
    const total = journal.entries.length
    expect([first.applied, second.applied].sort()).toEqual([0, total])
    expect(await runMigrations({ url, wsProxy, limits })).toEqual({ applied: 0, total })

    const check = testDatabase(url)
    const applied = await check.db.execute<{ count: string }>(
      sql`select count(*)::text as count from drizzle.__drizzle_migrations`,
    )
    const trigger = await check.db.execute(
      sql`select 1 from pg_trigger where tgname = 'users_set_updated_at'`,
    )
    await check.close()
    expect(Number(applied.rows[0]?.count)).toBe(total)
    expect(trigger.rows).toHaveLength(1)
  })

  it('run through the migrate function, which reports what it did', async () => {
    await expect(migrate()).resolves.toEqual({ applied: 0, total: journal.entries.length })
  })
})

/** A copy of the committed migrations in a folder of its own, with `extra` migrations appended to it. */
function migrationsCopy(extra: { tag: string; when: number; sql: string }[] = []): string {
  const folder = mkdtempSync(join(tmpdir(), 'papa-auth-migrations-'))
  cpSync(migrationsFolder, folder, { recursive: true })
  const copied = JSON.parse(readFileSync(join(folder, 'meta', '_journal.json'), 'utf8'))
  for (const migration of extra) {
    writeFileSync(join(folder, `${migration.tag}.sql`), migration.sql)
    copied.entries.push({
      idx: copied.entries.length,
      version: '7',
      when: migration.when,
      tag: migration.tag,
      breakpoints: true,
    })
  }
  writeFileSync(join(folder, 'meta', '_journal.json'), JSON.stringify(copied))
  return folder
}

const lastWhen = () =>
  Math.max(...(journal.entries as unknown as { when: number }[]).map((entry) => entry.when))

describe('the migrator', () => {
  const wsProxy = inject('wsProxy')

  it('refuses a migration whose content changed after it was applied, naming it', async () => {
    const url = await freshDatabase()
    const folder = migrationsCopy([
      { tag: '9001_note', when: lastWhen() + 1, sql: 'create table note (id int);' },
    ])
    await runMigrations({ url, wsProxy, limits, migrationsFolder: folder })
    writeFileSync(join(folder, '9001_note.sql'), 'create table note (id bigint);')
    await expect(runMigrations({ url, wsProxy, limits, migrationsFolder: folder })).rejects.toThrow(
      /migration 9001_note was changed after it was applied/,
    )
  })

  it('refuses a migration merged late: missing while a later one is applied', async () => {
    const url = await freshDatabase()
    const later = { tag: '9003_later', when: lastWhen() + 3, sql: 'create table later (id int);' }
    await runMigrations({ url, wsProxy, limits, migrationsFolder: migrationsCopy([later]) })
    const earlier = { tag: '9002_earlier', when: lastWhen() + 2, sql: 'create table earlier (id int);' }
    await expect(
      runMigrations({ url, wsProxy, limits, migrationsFolder: migrationsCopy([earlier, later]) }),
    ).rejects.toThrow(/migration 9002_earlier is not applied, but a later one is/)
  })

  it('runs a migration marked no-transaction statement by statement (CREATE INDEX CONCURRENTLY)', async () => {
    const url = await freshDatabase()
    const concurrently = {
      tag: '9004_concurrent_index',
      when: lastWhen() + 4,
      sql: '-- migrate: no-transaction\ncreate index concurrently if not exists users_created_at_idx on users (created_at);',
    }
    const result = await runMigrations({
      url,
      wsProxy,
      limits,
      migrationsFolder: migrationsCopy([concurrently]),
    })
    expect(result.applied).toBe(journal.entries.length + 1)
    const check = testDatabase(url)
    const index = await check.db.execute(
      sql`select 1 from pg_indexes where indexname = 'users_created_at_idx'`,
    )
    await check.close()
    expect(index.rows).toHaveLength(1)
  })

  it('gives up within its wait when another run holds the migration lock', async () => {
    const url = await freshDatabase()
    const holder = await connectDirect(url, wsProxy)
    try {
      await holder.query('select pg_advisory_lock(7326551204)')
      const started = Date.now()
      await expect(
        runMigrations({ url, wsProxy, limits: { ...limits, lockWaitMs: 300 } }),
      ).rejects.toBeInstanceOf(MigrationLockTimeoutError)
      // A bound, not a benchmark: its 300 ms and a 200 ms poll (0.54 s at most in 5 runs on a loaded 2-core machine);
      // a run ignoring its limit would wait the local default, 60 s.
      expect(Date.now() - started).toBeLessThan(5000)
    } finally {
      await holder.end()
    }
  })

  it('fails, applying nothing of it, when a statement cannot get its table lock in time (a busy table)', async () => {
    const url = await freshDatabase()
    await runMigrations({ url, wsProxy, limits })
    const busy = await connectDirect(url, wsProxy)
    const alter = {
      tag: '9005_alter_users',
      when: lastWhen() + 5,
      sql: 'alter table users add column nickname text;',
    }
    try {
      await busy.query('begin')
      await busy.query('lock table users in access share mode')
      await expect(
        runMigrations({
          url,
          wsProxy,
          limits: { ...limits, statementLockTimeoutMs: 200 },
          migrationsFolder: migrationsCopy([alter]),
        }),
      ).rejects.toSatisfy((error: unknown) => sqlState(error) === '55P03')
    } finally {
      await busy.query('rollback')
      await busy.end()
    }
    const check = testDatabase(url)
    const column = await check.db.execute(
      sql`select 1 from information_schema.columns where table_name = 'users' and column_name = 'nickname'`,
    )
    const recorded = await check.db.execute(
      sql`select 1 from drizzle.__drizzle_migrations where created_at = ${alter.when}`,
    )
    await check.close()
    expect(column.rows).toEqual([])
    expect(recorded.rows).toEqual([])
  })
})
