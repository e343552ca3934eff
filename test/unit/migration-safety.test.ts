import { describe, expect, it } from 'vitest'
import { type CommittedMigration, committedMigrations, NO_TRANSACTION_MARKER } from '#db/migrate'

/**
 * The rule of docs/deploying.md ("Writing a migration"), checked on every committed migration after the baseline:
 * a migration runs while the old functions serve, so it must not hold a lock on a table the API uses for longer than
 * a moment. The first five were written before the service had users, when every table was empty.
 */
const BASELINE = 5

const UNSAFE: readonly { pattern: RegExp; why: string }[] = [
  {
    pattern: /\bcreate\s+(unique\s+)?index\s+(?!concurrently\b)/i,
    why: 'CREATE INDEX blocks writes while it builds: use CREATE INDEX CONCURRENTLY in a no-transaction migration',
  },
  {
    pattern: /\balter\s+column\s+\S+\s+(set\s+data\s+)?type\b/i,
    why: 'changing a column type rewrites the table under an exclusive lock: add a new column, backfill, switch',
  },
  {
    pattern: /\badd\s+constraint\s+[^;]*\b(foreign\s+key|check)\b(?![^;]*\bnot\s+valid\b)/i,
    why: 'a new FOREIGN KEY or CHECK scans the table under lock: add it NOT VALID, then VALIDATE CONSTRAINT apart',
  },
  {
    pattern: /\balter\s+column\s+\S+\s+set\s+not\s+null\b/i,
    why: 'SET NOT NULL scans the table under an exclusive lock: add a CHECK (… IS NOT NULL) NOT VALID and validate it first',
  },
]

/** Tables a migration creates itself: nothing uses them yet, so any statement on them is safe. */
const createdIn = (migration: CommittedMigration) =>
  new Set(
    [...migration.sql.join('\n').matchAll(/create\s+table\s+(?:if\s+not\s+exists\s+)?"?(\w+)"?/gi)].map(
      (m) => m[1],
    ),
  )

/** The statement's problems, for a statement of `migration`. */
function problemsOf(migration: CommittedMigration, statement: string): string[] {
  const target = /\b(?:on|alter\s+table|table)\s+(?:only\s+)?"?(\w+)"?/i.exec(statement)?.[1]
  if (target && createdIn(migration).has(target)) return []
  const problems = UNSAFE.filter(({ pattern }) => pattern.test(statement)).map(({ why }) => why)
  if (/\bconcurrently\b/i.test(statement) && migration.inTransaction) {
    problems.push(`CONCURRENTLY cannot run in a transaction: start the file with "${NO_TRANSACTION_MARKER}"`)
  }
  return problems
}

describe('migrations after the baseline do not lock a busy table', () => {
  it.each(
    committedMigrations()
      .slice(BASELINE)
      .map((migration) => [migration.tag, migration] as const),
  )('%s', (_, migration) => {
    const problems = migration.sql.flatMap((statement) => problemsOf(migration, statement))
    expect(problems).toEqual([])
  })

  it.each([
    ['create index users_x on users (x)', true],
    ['create unique index users_x on users (x)', true],
    ['create index concurrently users_x on users (x)', false],
    ['alter table users alter column email type text', true],
    ['alter table users add constraint c check (x > 0)', true],
    ['alter table users add constraint c check (x > 0) not valid', false],
    ['alter table users add constraint f foreign key (x) references t (id)', true],
    ['alter table users alter column username set not null', true],
    ['alter table users add column nickname text', false],
  ])('judges "%s" unsafe: %s', (statement, unsafe) => {
    const migration = { tag: 't', sql: [statement], folderMillis: 0, hash: '', inTransaction: true }
    const problems = problemsOf(migration, statement).filter((problem) => !problem.startsWith('CONCURRENTLY'))
    expect(problems.length > 0).toBe(unsafe)
  })

  it('lets a migration do anything to a table it creates itself', () => {
    const sql = ['create table notes (id int)', 'create index notes_id on notes (id)']
    const migration = { tag: 't', sql, folderMillis: 0, hash: '', inTransaction: true }
    expect(sql.flatMap((statement) => problemsOf(migration, statement))).toEqual([])
  })

  it('wants CONCURRENTLY in a no-transaction migration', () => {
    const statement = 'create index concurrently users_x on users (x)'
    const migration = { tag: 't', sql: [statement], folderMillis: 0, hash: '', inTransaction: true }
    expect(problemsOf(migration, statement)).toEqual([expect.stringContaining('no-transaction')])
    expect(problemsOf({ ...migration, inTransaction: false }, statement)).toEqual([])
  })
})
