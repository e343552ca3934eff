import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateDrizzleJson, generateMigration } from 'drizzle-kit/api'
import { sql } from 'drizzle-orm'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { defaultMigrationsFolder, runMigrations } from '#db/migrate'
import * as schema from '#db/schema'
import { handler as migrate } from '#functions/migrate'
import { superuserOn, testDatabase } from '#test/helpers/database'

const database = testDatabase()
afterAll(() => database.close())

const migrationsFolder = defaultMigrationsFolder()
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
      runMigrations({ url, wsProxy }),
      runMigrations({ url, wsProxy }),
    ])
    const total = journal.entries.length
    expect([first.applied, second.applied].sort()).toEqual([0, total])
    expect(await runMigrations({ url, wsProxy })).toEqual({ applied: 0, total })

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
