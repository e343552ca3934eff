import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import bcrypt from 'bcryptjs'
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest'
import { createDatabase } from '#db/client'
import { sqlState } from '#db/errors'
import { committedMigrations } from '#db/migrate'
import { handler as cutover } from '#functions/cutover'
import { handler as migrate } from '#functions/migrate'
import { repositoryRoot } from '#infra/bundling'
import { testDatabase } from '#test/helpers/database'
import { apiEvent, bearerEvent, invoke, jsonEvent } from '#test/helpers/events'
import {
  ALEMBIC_DDL,
  dropDatabase,
  type LegacyDatabase,
  legacyDatabase,
  planOn,
  snapshot,
} from '#test/helpers/legacy-database'

type Handler = Parameters<typeof invoke>[0]

/** 80 bytes: passlib's bcrypt hashed its first 72, and its user typed all of it. */
const EIGHTY_BYTES = 'correct horse battery staple, and then some more words to pass bcrypt 72 bytes!!'
const LONG_USERNAME = 'a_username_from_before_any_length_rule_existed_at_all_60_ch'

interface Fixture {
  id: number
  email: string
  username: string | null
  password: string
  active: boolean | null
  superuser: boolean | null
  created: string
  updated: string
}

/** The old backend's rows: awkward on purpose, with a gap in the ids. */
const FIXTURES: Fixture[] = [
  {
    id: 1,
    email: 'John.Doe@Example.com',
    username: 'John',
    password: 'the first john password',
    active: true,
    superuser: false,
    created: '2021-03-04 05:06:07.123456',
    updated: '2023-01-01 00:00:00',
  },
  {
    id: 2,
    email: 'john.doe@example.com',
    username: 'john',
    password: 'the second john password',
    active: true,
    superuser: false,
    created: '2021-06-01 10:00:00',
    updated: '2024-05-01 08:30:00.5',
  },
  {
    id: 5,
    email: ' Mixed@Case.COM ',
    username: 'mixed',
    password: 'mixed case password',
    active: true,
    superuser: false,
    created: '2022-01-01 00:00:00',
    updated: '2022-01-02 00:00:00',
  },
  {
    id: 9,
    email: 'not-an-email',
    username: null,
    password: 'invalid email password',
    active: true,
    superuser: false,
    created: '2022-02-02 02:02:02',
    updated: '2022-02-02 02:02:02',
  },
  {
    id: 12,
    email: 'long@example.com',
    username: LONG_USERNAME,
    password: EIGHTY_BYTES,
    active: true,
    superuser: false,
    created: '2022-07-14 23:59:59.999999',
    updated: '2022-07-15 00:00:00',
  },
  {
    id: 14,
    email: 'admin@papa.com',
    username: 'admin',
    password: 'admin123',
    active: true,
    superuser: true,
    created: '2020-12-31 23:00:00',
    updated: '2020-12-31 23:00:00',
  },
  {
    id: 20,
    email: 'nulls@example.com',
    username: null,
    password: 'null flags password',
    active: null,
    superuser: null,
    created: '2023-03-03 03:03:03',
    updated: '2023-03-03 03:03:03',
  },
  {
    id: 21,
    email: 'inactive@example.com',
    username: 'Inactive',
    password: 'inactive user password',
    active: false,
    superuser: false,
    created: '2023-04-04 04:04:04',
    updated: '2023-04-04 04:04:04',
  },
  {
    id: 30,
    email: 'Dup@Example.org',
    username: 'dup',
    password: 'inactive duplicate password',
    active: false,
    superuser: false,
    created: '2019-01-01 00:00:00',
    updated: '2025-01-01 00:00:00',
  },
  {
    id: 31,
    email: 'dup@example.org',
    username: null,
    password: 'active duplicate password',
    active: true,
    superuser: false,
    created: '2019-02-01 00:00:00',
    updated: '2020-01-01 00:00:00',
  },
]
/** Rows were deleted after id 31: the old sequence stands at 40. */
const OLD_SEQUENCE = 40

const literal = (value: string | boolean | null) =>
  value === null ? 'NULL' : typeof value === 'boolean' ? String(value) : `'${value.replaceAll("'", "''")}'`

async function fill(database: LegacyDatabase, rows: Fixture[], cost: number) {
  const hashes = await Promise.all(rows.map((row) => bcrypt.hash(row.password, cost)))
  const values = rows.map(
    (row, index) =>
      `(${row.id}, ${[row.email, row.username, hashes[index] ?? '', row.active, row.superuser, row.created, row.updated].map(literal).join(', ')})`,
  )
  await database.owner.pool.query(
    `insert into users (id, email, username, hashed_password, is_active, is_superuser, created_at, updated_at)
     values ${values.join(', ')}`,
  )
  await database.owner.pool.query(`select setval('users_id_seq', ${OLD_SEQUENCE})`)
  return hashes
}

/** A `YYYY-MM-DD HH:MI:SS[.frac]` naive UTC time as the report writes it: ISO, microseconds, Z. */
const iso = (naive: string) => {
  const [whole = '', fraction = ''] = naive.split('.')
  return `${whole.replace(' ', 'T')}.${fraction.padEnd(6, '0')}Z`
}

const fixture = (id: number): Fixture => {
  const row = FIXTURES.find((candidate) => candidate.id === id)
  if (!row) throw new Error(`no fixture ${id}`)
  return row
}

/** A legacy row as the report shows it. */
const rowOf = (id: number) => {
  const row = fixture(id)
  return {
    id,
    email: row.email,
    username: row.username,
    active: row.active === true,
    updatedAt: iso(row.updated),
  }
}

/** The cutover function run as Lambda would, its environment pointed at `database`. */
async function runCutover(database: LegacyDatabase, event: unknown) {
  vi.stubEnv('DATABASE_MIGRATION_URL', database.ownerUrl)
  vi.stubEnv('DATABASE_URL', database.apiUrl)
  return cutover(event, { getRemainingTimeInMillis: () => 300_000 })
}

/** The API handlers of a fresh container (a cold start) pointed at `database`. */
async function coldHandlers(database: LegacyDatabase) {
  vi.resetModules()
  vi.stubEnv('DATABASE_URL', database.apiUrl)
  const [login, register, deleteAccount, me] = await Promise.all(
    ['login', 'register', 'delete-account', 'me'].map(
      async (name) => ((await import(`../../functions/${name}.ts`)) as { handler: Handler }).handler,
    ),
  )
  return {
    login: login as Handler,
    register: register as Handler,
    deleteAccount: deleteAccount as Handler,
    me: me as Handler,
  }
}

const NODE = existsSync(join(repositoryRoot, 'node_modules/.bin/node'))
  ? join(repositoryRoot, 'node_modules/.bin/node')
  : process.execPath

/** `npm run cutover -- …` in a process of its own, with only the database's URLs: it starts its own proxy. */
function runScript(database: LegacyDatabase, args: string[]) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(NODE, ['scripts/cutover.ts', ...args], {
      cwd: repositoryRoot,
      env: {
        PATH: process.env.PATH ?? '',
        DATABASE_MIGRATION_URL: database.ownerUrl,
        DATABASE_URL: database.apiUrl,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8')
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8')
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    child.on('error', reject)
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

afterEach(() => {
  vi.unstubAllEnvs()
})

describe('the cutover of the FastAPI database', () => {
  let database: LegacyDatabase
  let hashes: string[]

  beforeAll(async () => {
    database = await legacyDatabase('main')
    hashes = await fill(database, FIXTURES, 12)
  }, 60_000)
  afterAll(() => dropDatabase(database))

  it('starts from passlib-format hashes ($2b$12$), as the old backend wrote them', () => {
    for (const hash of hashes) expect(hash).toMatch(/^\$2b\$12\$[./A-Za-z0-9]{53}$/)
  })

  it('reports every row that cannot be carried as it is, each group with its keeper, and changes nothing', async () => {
    const before = await snapshot(database.owner)
    const report = await runCutover(database, { apply: false })
    expect(await snapshot(database.owner)).toEqual(before)

    expect(report).toMatchObject({
      outcome: 'dry run',
      keeperRule:
        'in each group one row keeps its value: the active one first (for usernames, active as carried), then the most recently updated, then the lowest id',
      legacyRows: 10,
    })
    expect(report.applied).toBeUndefined()
    expect(report.emailCollisions).toEqual({
      decidedBy: 'emailCollisions (--email-collisions)',
      choices: {
        merge: 'the others are not carried: they stay in legacy_users only',
        deactivate: 'the others are carried, inactive, as duplicate-<id>@carried.invalid',
      },
      chosen: null,
      groupCount: 2,
      groups: [
        // The active row wins over a more recently updated inactive one.
        {
          value: 'dup@example.org',
          keep: rowOf(31),
          otherCount: 1,
          others: [{ ...rowOf(30), outcome: null }],
        },
        // Both active: the most recently updated.
        {
          value: 'john.doe@example.com',
          keep: rowOf(2),
          otherCount: 1,
          others: [{ ...rowOf(1), outcome: null }],
        },
      ],
    })
    expect(report.usernameCollisions).toEqual({
      decidedBy: 'usernameCollisions (--username-collisions)',
      choices: {
        rename: 'the others become <name>_<id>, cut to fit 50 characters',
        clear: 'the others are carried without a username',
      },
      chosen: null,
      groupCount: 1,
      groups: [{ value: 'john', keep: rowOf(2), otherCount: 1, others: [{ ...rowOf(1), outcome: null }] }],
      tooLongCount: 1,
      tooLong: [{ ...rowOf(12), outcome: null }],
    })
    expect(report.invalidEmails).toEqual({
      decidedBy: 'invalidEmails (--invalid-emails)',
      choices: { deactivate: 'carried, inactive, as invalid-<id>@carried.invalid' },
      chosen: null,
      rowCount: 1,
      rows: [{ ...rowOf(9), outcome: null }],
    })
    expect(report.conversion).toMatchObject({
      carried: 10,
      notCarried: [],
      deactivated: [],
      emailsCanonicalized: 1,
      nullFlagsCarriedAsFalse: [20],
      hashesNotBcrypt: [],
    })
    expect(report.undecided).toEqual([
      '2 email collision group(s) (emails equal once trimmed and lower-cased): choose emailCollisions (merge or deactivate; --email-collisions=merge|deactivate for npm run cutover)',
      '2 username(s) to change (equal but for case, or longer than 50 characters): choose usernameCollisions (rename or clear; --username-collisions=rename|clear for npm run cutover)',
      '1 invalid email(s): choose invalidEmails (deactivate; --invalid-emails=deactivate for npm run cutover)',
    ])
    // The report names rows, never their hashes.
    expect(JSON.stringify(report)).not.toMatch(/\$2[aby]\$/)
  })

  it('shows, in a dry run given the flags, what each of them would do', async () => {
    const report = await runCutover(database, {
      emailCollisions: 'deactivate',
      usernameCollisions: 'rename',
      invalidEmails: 'deactivate',
    })
    expect(report.undecided).toEqual([])
    expect(report.emailCollisions.groups.flatMap((group) => group.others)).toEqual([
      { ...rowOf(30), outcome: 'carried inactive as duplicate-30@carried.invalid' },
      { ...rowOf(1), outcome: 'carried inactive as duplicate-1@carried.invalid' },
    ])
    // Deactivated by the cutover, row 1 is shown (and ranked for its username) as it will be carried: inactive.
    expect(report.usernameCollisions.groups[0]?.others).toEqual([
      { ...rowOf(1), active: false, outcome: 'renamed John_1' },
    ])
    expect(report.usernameCollisions.tooLong).toEqual([
      { ...rowOf(12), outcome: `renamed ${LONG_USERNAME.slice(0, 47)}_12` },
    ])
    expect(report.conversion).toMatchObject({ carried: 10, deactivated: [1, 9, 30], emailsCanonicalized: 1 })
  })

  it('refuses to apply while a conflict has no chosen flag, naming each flag, and changes nothing', async () => {
    const before = await snapshot(database.owner)
    const error = (await runCutover(database, { apply: true, emailCollisions: 'merge' }).catch(
      (caught: unknown) => caught,
    )) as Error
    expect(error.message).toMatch(/^cutover refused: a conflict has no chosen flag, nothing was changed: /)
    expect(error.message).toContain('choose usernameCollisions (rename or clear; --username-collisions=')
    expect(error.message).toContain('choose invalidEmails (deactivate; --invalid-emails=')
    expect(error.message).not.toContain('emailCollisions')
    await expect(runCutover(database, { apply: true })).rejects.toThrow(/choose emailCollisions/)
    await expect(runCutover(database, { apply: true, emailCollisions: 'drop' })).rejects.toThrow(
      /^cutover refused: the request is not one it takes \(emailCollisions: must be merge or deactivate\)$/,
    )
    await expect(runCutover(database, { apply: true, emailCollision: 'merge' })).rejects.toThrow(
      /emailCollision: the cutover takes only apply, emailCollisions, usernameCollisions, invalidEmails and inbound/,
    )
    expect(await snapshot(database.owner)).toEqual(before)
  })

  it('reports as text and refuses an apply without flags from npm run cutover, through its own local proxy', async () => {
    const dry = await runScript(database, [])
    expect(dry.stderr).toBe('')
    expect(dry.code).toBe(0)
    expect(dry.stdout).toContain('Cutover dry run: 10 row(s) in the old users table. Nothing was changed.')
    expect(dry.stdout).toContain('Email collision groups: 2. Decided by --email-collisions (not chosen)')
    expect(dry.stdout).toContain(
      '    keep  #2 "john.doe@example.com", username "john", active, updated 2024-05-01T08:30:00.500000Z',
    )
    expect(dry.stdout).toContain(
      '    other #1 "John.Doe@Example.com", username "John", active, updated 2023-01-01T00:00:00.000000Z -> choose --email-collisions',
    )
    expect(dry.stdout).toContain('  too long: #12 "long@example.com"')
    expect(dry.stdout).toContain('Invalid emails: 1. Decided by --invalid-emails (not chosen)')

    const refused = await runScript(database, ['--apply', '--email-collisions=merge'])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/^cutover refused: a conflict has no chosen flag/)
    expect(refused.stderr).toContain('--username-collisions=rename|clear')

    const wrong = await runScript(database, ['--apply', '--email-collisions=drop'])
    expect(wrong.code).toBe(2)
    expect(wrong.stderr).toMatch(/^--email-collisions must be merge or deactivate\n/)
  })

  describe('applied with flags', () => {
    const flags = {
      apply: true,
      emailCollisions: 'deactivate',
      usernameCollisions: 'rename',
      invalidEmails: 'deactivate',
    }
    let applied: Awaited<ReturnType<typeof cutover>>
    const firstOutside = committedMigrations().findIndex((migration) => !migration.inTransaction)
    const inCutover = firstOutside === -1 ? committedMigrations().length : firstOutside

    beforeAll(async () => {
      applied = await runCutover(database, flags)
      vi.unstubAllEnvs()
    }, 60_000)

    it('carries every row, in one go, and says what it did', () => {
      expect(applied).toMatchObject({
        outcome: 'applied',
        legacyRows: 10,
        undecided: [],
        conversion: { carried: 10, notCarried: [], deactivated: [1, 9, 30], emailsCanonicalized: 1 },
        applied: {
          legacyTable: 'legacy_users',
          // Those before the first no-transaction migration; the migrate run after the commit applies the rest.
          migrationsInCutover: inCutover,
          migrationsAfterCommit: committedMigrations().length - inCutover,
          idsContinueAfter: OLD_SEQUENCE,
          dropLater:
            'once nothing needs the old rows: drop table legacy_users (its sequence goes with it) and alembic_version',
        },
      })
    })

    it('converts each row: canonical emails, resolved usernames, timestamps converted from UTC, flags coalesced, unverified', async () => {
      const { rows } = await database.owner.pool.query(`
        select id, email, username, is_active, is_superuser, password_carried_over, email_verified,
          to_char(created_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') as created,
          to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') as updated
        from users order by id`)
      const utc = (naive: string) => iso(naive).replace('T', ' ').replace('Z', '')
      const expected = (
        id: number,
        email: string,
        username: string | null,
        active: boolean,
        superuser = false,
      ) => {
        const { created, updated } = fixture(id)
        return {
          id,
          email,
          username,
          is_active: active,
          is_superuser: superuser,
          password_carried_over: true,
          // Nothing proved the old backend's addresses: the code or a reset link verifies them later.
          email_verified: false,
          created: utc(created),
          updated: utc(updated),
        }
      }
      expect(rows).toEqual([
        expected(1, 'duplicate-1@carried.invalid', 'John_1', false),
        expected(2, 'john.doe@example.com', 'john', true),
        expected(5, 'mixed@case.com', 'mixed', true),
        expected(9, 'invalid-9@carried.invalid', null, false),
        expected(12, 'long@example.com', `${LONG_USERNAME.slice(0, 47)}_12`, true),
        expected(14, 'admin@papa.com', 'admin', true, true),
        expected(20, 'nulls@example.com', null, false),
        expected(21, 'inactive@example.com', 'Inactive', false),
        expected(30, 'duplicate-30@carried.invalid', 'dup', false),
        expected(31, 'dup@example.org', null, true),
      ])
    })

    it('loses nothing: the same rows, ids, hashes, superuser flags and creation instants as the legacy table', async () => {
      const checksum = async (table: string, createdUtc: string) =>
        (
          await database.owner.pool.query(`
            select count(*)::int as count, md5(string_agg(format('%s|%s|%s|%s', id, hashed_password,
              coalesce(is_superuser, false), to_char(${createdUtc}, 'YYYY-MM-DD HH24:MI:SS.US')), ',' order by id)) as sum
            from ${table}`)
        ).rows[0]
      const legacy = await checksum('legacy_users', 'created_at')
      expect(legacy.count).toBe(FIXTURES.length)
      expect(await checksum('users', "created_at at time zone 'UTC'")).toEqual(legacy)
      // The old table as it was: its rows untouched, its indexes and sequence renamed out of the way.
      const { rows } = await database.owner.pool.query(`select email from legacy_users order by id limit 1`)
      expect(rows).toEqual([{ email: 'John.Doe@Example.com' }])
      const relations = await database.owner.pool.query(`
        select string_agg(relname, ',' order by relname) as names from pg_class
        where relname like 'legacy_%'`)
      expect(relations.rows[0].names).toBe(
        'legacy_ix_users_email,legacy_ix_users_id,legacy_ix_users_username,legacy_users,legacy_users_id_seq,legacy_users_pkey',
      )
    })

    it("keeps the legacy table out of the API role's reach", async () => {
      const api = createDatabase({
        url: database.apiUrl,
        wsProxy: inject('wsProxy'),
        connectTimeoutMs: 3000,
        poolMax: 1,
      })
      try {
        const state = await api.pool.query('select count(*) from legacy_users').then(
          () => 'ok',
          (error: unknown) => sqlState(error),
        )
        expect(state).toBe('42501')
      } finally {
        await api.close()
      }
    })

    it('lets every carried active user log in with the password it had, the 80-byte one included', async () => {
      const { login } = await coldHandlers(database)
      const attempt = (email: string, password: string) =>
        invoke(login, jsonEvent('/api/v1/auth/login', { email, password })).then(
          (response) => response.status,
        )
      for (const [email, password] of [
        ['john.doe@example.com', 'the second john password'],
        ['MIXED@case.com', 'mixed case password'],
        ['long@example.com', EIGHTY_BYTES],
        ['admin@papa.com', 'admin123'],
        ['dup@example.org', 'active duplicate password'],
      ] as const) {
        expect(await attempt(email, password), email).toBe(200)
      }
      // Inactive, deactivated by the cutover, or the duplicate left behind its keeper: none of them.
      for (const [email, password] of [
        ['john.doe@example.com', 'the first john password'],
        ['invalid-9@carried.invalid', 'invalid email password'],
        ['nulls@example.com', 'null flags password'],
        ['inactive@example.com', 'inactive user password'],
        ['duplicate-30@carried.invalid', 'inactive duplicate password'],
      ] as const) {
        expect(await attempt(email, password), email).toBe(401)
      }
    }, 60_000)

    it('gives a new registration a fresh id, above every id the old backend handed out', async () => {
      const { register } = await coldHandlers(database)
      const response = await invoke(
        register,
        jsonEvent('/api/v1/auth/register', { email: 'newcomer@example.com', password: 'a new password' }),
      )
      expect(response.status).toBe(201)
      expect((response.body as { id: number }).id).toBe(OLD_SEQUENCE + 1)
    })

    it('deletes a carried account like any other, its old row and merged duplicate with it', async () => {
      const { login, deleteAccount, me } = await coldHandlers(database)
      const pair = (
        await invoke(
          login,
          jsonEvent('/api/v1/auth/login', {
            email: 'john.doe@example.com',
            password: 'the second john password',
          }),
        )
      ).body as { access_token: string }
      const bearer = { authorization: `Bearer ${pair.access_token}` }
      const deleted = await invoke(
        deleteAccount,
        apiEvent(
          'DELETE',
          '/api/v1/users/me',
          JSON.stringify({ current_password: 'the second john password' }),
          {
            headers: { ...bearer, 'content-type': 'application/json' },
          },
        ),
      )
      expect(deleted.status).toBe(204)
      expect((await invoke(me, bearerEvent('/api/v1/users/me', pair.access_token))).status).toBe(401)
      const left = await database.owner.pool.query(`
        select (select count(*)::int from users where id = 2) as users,
          (select count(*)::int from legacy_users where lower(email) like '%john.doe%') as legacy,
          (select count(*)::int from security_events where email ilike '%john.doe%') as events`)
      expect(left.rows[0]).toEqual({ users: 0, legacy: 0, events: 0 })
      // Another carried account is untouched, in both tables.
      const kept = await database.owner.pool.query(`
        select (select count(*)::int from users where email = 'mixed@case.com') as users,
          (select count(*)::int from legacy_users where lower(btrim(email)) = 'mixed@case.com') as legacy`)
      expect(kept.rows[0]).toEqual({ users: 1, legacy: 1 })
    }, 60_000)

    it('leaves migrate nothing to apply', async () => {
      vi.stubEnv('DATABASE_MIGRATION_URL', database.ownerUrl)
      vi.stubEnv('DATABASE_URL', database.apiUrl)
      const result = await migrate()
      expect(result).toEqual({ applied: 0, total: expect.any(Number) })
      expect('total' in result && result.total).toBeGreaterThan(0)
    })

    it('refuses to run again: the database is cut over', async () => {
      await expect(runCutover(database, { apply: false })).rejects.toThrow(
        /^cutover refused: the database is already cut over: legacy_users \(the FastAPI table\) exists; nothing to do$/,
      )
      await expect(runCutover(database, flags)).rejects.toThrow(/already cut over/)
    })
  })
})

describe('the keeper rule for usernames', () => {
  let database: LegacyDatabase
  beforeAll(async () => {
    database = await legacyDatabase('keeper')
  })
  afterAll(() => dropDatabase(database))

  const rows = [
    { id: 1, email: 'dup@example.com', username: 'Sam', updatedAt: '2020-01-01T00:00:00.000000Z' },
    { id: 2, email: 'DUP@example.com', username: null, updatedAt: '2025-01-01T00:00:00.000000Z' },
    { id: 3, email: 'sam@example.com', username: 'sam', updatedAt: '2019-01-01T00:00:00.000000Z' },
  ]

  it('gives a contested username to the account that will be active, not to a duplicate the cutover deactivates', async () => {
    const decided = await planOn(database, rows, {
      emailCollisions: 'deactivate',
      usernameCollisions: 'rename',
    })
    expect(decided.carry).toEqual([
      { id: 1, email: 'duplicate-1@carried.invalid', username: 'Sam_1', deactivate: true },
      { id: 2, email: 'dup@example.com', username: null, deactivate: false },
      { id: 3, email: 'sam@example.com', username: 'sam', deactivate: false },
    ])
    // Undecided, both are active: the more recently updated keeps it.
    const open = await planOn(database, rows, {})
    expect(open.report.usernameCollisions.groups.map((group) => group.keep.id)).toEqual([1])
    expect(open.carry).toEqual([])
  })
})

describe('the cutover with --email-collisions=merge --username-collisions=clear', () => {
  let database: LegacyDatabase

  beforeAll(async () => {
    // A users table whose timestamps have a time zone already (altered after Alembic): kept as they are.
    database = await legacyDatabase(
      'merge',
      ALEMBIC_DDL.replaceAll('TIMESTAMP WITHOUT TIME ZONE', 'TIMESTAMP WITH TIME ZONE'),
    )
    const hash = await bcrypt.hash('a password', 4)
    await database.owner.pool.query(`
      insert into users (id, email, username, hashed_password, is_active, is_superuser, created_at, updated_at) values
        (1, 'John.Doe@Example.com', 'John', '${hash}', true, false, '2021-03-04 05:06:07+02', '2023-01-01 00:00:00+00'),
        (2, 'john.doe@example.com', 'john', '${hash}', true, false, '2021-06-01 10:00:00+00', '2024-01-01 00:00:00+00'),
        (3, 'other@example.com', 'JOHN', '${hash}', true, false, '2021-07-01 10:00:00-05', '2020-01-01 00:00:00+00')`)
  })
  afterAll(() => dropDatabase(database))

  it('counts username collisions among the rows that will be carried', async () => {
    const open = await runCutover(database, {})
    expect(
      open.usernameCollisions.groups.map((group) => [group.keep.id, group.others.map((row) => row.id)]),
    ).toEqual([[2, [1, 3]]])
    const merged = await runCutover(database, { emailCollisions: 'merge' })
    expect(
      merged.usernameCollisions.groups.map((group) => [group.keep.id, group.others.map((row) => row.id)]),
    ).toEqual([[2, [3]]])
  })

  it('leaves the others in the legacy table only, clears the usernames, and keeps instants with a time zone', async () => {
    const report = await runCutover(database, {
      apply: true,
      emailCollisions: 'merge',
      usernameCollisions: 'clear',
    })
    expect(report.conversion).toMatchObject({ carried: 2, notCarried: [1], deactivated: [] })
    expect(report.emailCollisions.groups[0]?.others).toEqual([
      expect.objectContaining({ id: 1, outcome: 'not carried: stays in legacy_users' }),
    ])
    const { rows } = await database.owner.pool.query(`
      select id, email, username, is_active,
        to_char(created_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS') as created from users order by id`)
    expect(rows).toEqual([
      {
        id: 2,
        email: 'john.doe@example.com',
        username: 'john',
        is_active: true,
        created: '2021-06-01 10:00:00',
      },
      { id: 3, email: 'other@example.com', username: null, is_active: true, created: '2021-07-01 15:00:00' },
    ])
    const legacy = await database.owner.pool.query('select count(*)::int as count from legacy_users')
    expect(legacy.rows).toEqual([{ count: 3 }])
  })
})

describe('the cutover refuses a database that is not the old one, and fails without changing anything', () => {
  const made: LegacyDatabase[] = []
  afterAll(async () => {
    for (const database of made) await dropDatabase(database)
  })

  it('refuses an empty database', async () => {
    const database = await legacyDatabase('empty', '')
    made.push(database)
    await expect(runCutover(database, { apply: true })).rejects.toThrow(
      /^cutover refused: the database has no users table: it is empty, not the FastAPI backend’s/,
    )
  })

  it("refuses a database migrate has set up, and one whose old table is not the connecting role's", async () => {
    const migrated = await legacyDatabase('migrated', '')
    made.push(migrated)
    vi.stubEnv('DATABASE_MIGRATION_URL', migrated.ownerUrl)
    vi.stubEnv('DATABASE_URL', migrated.apiUrl)
    await migrate()
    await expect(runCutover(migrated, { apply: false })).rejects.toThrow(
      /^cutover refused: the database is already this service's: \d+ migration\(s\) are recorded; nothing to carry over$/,
    )

    const foreign = await legacyDatabase('foreign', '')
    made.push(foreign)
    const admin = testDatabase(
      (() => {
        const url = new URL(inject('superuserUrl'))
        url.pathname = `/${foreign.name}`
        return url.toString()
      })(),
    )
    try {
      await admin.pool.query(ALEMBIC_DDL)
    } finally {
      await admin.close()
    }
    await expect(runCutover(foreign, { apply: false })).rejects.toThrow(
      /^cutover refused: users belongs to the role postgres, and the cutover connects as papa_auth_owner: connect as its owner, or give it to papa_auth_owner first \(ALTER TABLE users OWNER TO papa_auth_owner\)$/,
    )
  })

  it('rolls everything back when a step fails, and says which without SQL or a hash', async () => {
    const database = await legacyDatabase('failing')
    made.push(database)
    await fill(database, FIXTURES.slice(1, 3), 4)
    // The old database has a function of the name migration 0001 creates, owned by another role: 42501 mid-cutover,
    // after the rename, the first migration and the journal.
    const url = new URL(inject('superuserUrl'))
    url.pathname = `/${database.name}`
    const admin = testDatabase(url.toString())
    try {
      await admin.pool.query(
        'create function set_updated_at() returns trigger language plpgsql as $$ begin return new; end $$',
      )
    } finally {
      await admin.close()
    }
    const before = await snapshot(database.owner)
    const error = (await runCutover(database, { apply: true }).catch((caught: unknown) => caught)) as Error
    expect(error.message).toBe(
      'cutover failed while applying migration 0001_users_updated_at_trigger: SQLSTATE 42501 (permission denied); nothing was changed',
    )
    expect(error.cause).toBeUndefined()
    expect(await snapshot(database.owner)).toEqual(before)
  })
})

describe('the cutover of a database whose other tables and views reference users', () => {
  const made: LegacyDatabase[] = []
  afterAll(async () => {
    for (const database of made) await dropDatabase(database)
  })

  /** The old schema, an orders table whose foreign key names users, and views over users (one over another). */
  async function withReferences(label: string) {
    const database = await legacyDatabase(label)
    made.push(database)
    const hash = await bcrypt.hash('a password', 4)
    await database.owner.pool.query(`
      insert into users (id, email, username, hashed_password, is_active, is_superuser, created_at, updated_at) values
        (1, 'John.Doe@Example.com', 'john', '${hash}', true, false, '2021-01-01', '2023-01-01'),
        (2, 'john.doe@example.com', null, '${hash}', true, false, '2021-01-01', '2024-01-01'),
        (3, 'Other@Example.com', 'other', '${hash}', true, false, '2021-01-01', '2021-01-01');
      create table orders (id serial primary key,
        user_id integer constraint orders_user_id_fkey references users (id) on delete cascade, item text not null);
      insert into orders (user_id, item) values (1, 'first'), (2, 'second'), (3, 'third'), (null, 'guest');
      create view active_users with (security_barrier = true) as
        select id, email, username from users where is_active;
      comment on view active_users is 'the accounts that may log in';
      create view active_user_count as select count(*) as accounts from active_users;
      create materialized view user_emails as select id, email from users;
      create unique index user_emails_id on user_emails (id);`)
    return database
  }

  const NAMES = [
    'foreign key orders_user_id_fkey of public.orders (user_id)',
    'view public.active_users',
    'view public.active_user_count',
    'materialized view public.user_emails',
  ]

  it('reports each of them, and refuses to apply (the default) naming them, changing nothing', async () => {
    const database = await withReferences('inbound_refuse')
    const report = await runCutover(database, { emailCollisions: 'merge' })
    expect(report.inbound).toEqual({
      decidedBy: 'inbound (--inbound)',
      choices: {
        refuse:
          'the default: the apply refuses, naming them (renamed, the old table would take them along to legacy_users)',
        repoint:
          'each foreign key is dropped and added again on the new users table (NOT VALID, then validated), each view recreated over it from its definition, in the same transaction',
      },
      chosen: null,
      foreignKeys: [
        {
          name: 'orders_user_id_fkey',
          table: 'public.orders',
          columns: ['user_id'],
          references: 'users(id)',
          // Row 1 is the duplicate merge leaves behind; the guest order has no user.
          rowsWithoutCarriedUser: 1,
          outcome: 'refused: the apply stops while it references users (choose inbound repoint, or drop it)',
        },
      ],
      views: [
        { name: 'public.active_users', kind: 'view', outcome: expect.stringMatching(/^refused: /) },
        { name: 'public.active_user_count', kind: 'view', outcome: expect.stringMatching(/^refused: /) },
        {
          name: 'public.user_emails',
          kind: 'materialized view',
          outcome: expect.stringMatching(/^refused: /),
        },
      ],
    })

    const before = await snapshot(database.owner)
    const error = (await runCutover(database, { apply: true, emailCollisions: 'merge' }).catch(
      (caught: unknown) => caught,
    )) as Error
    expect(error.message).toBe(
      `cutover refused: other objects reference users, and would silently follow the old table to legacy_users: ${NAMES.join('; ')}: choose inbound repoint (--inbound=repoint) to move them to the new users table, or drop them first; nothing was changed`,
    )
    expect(await snapshot(database.owner)).toEqual(before)
    const dry = await runScript(database, ['--email-collisions=merge'])
    expect(dry.stdout).toContain(
      'Foreign keys and views of other tables that reference users: 4. Decided by --inbound (chosen: refuse, the default)',
    )
    expect(dry.stdout).toContain(
      '  foreign key orders_user_id_fkey of public.orders (user_id) -> users(id), 1 row(s) without a carried user: refused:',
    )
  })

  it('refuses to repoint a foreign key whose rows would lose their user to a merge, naming it and how many', async () => {
    const database = await withReferences('inbound_merged')
    const before = await snapshot(database.owner)
    const error = (await runCutover(database, {
      apply: true,
      emailCollisions: 'merge',
      inbound: 'repoint',
    }).catch((caught: unknown) => caught)) as Error
    expect(error.message).toBe(
      'cutover refused: cannot repoint what references users, nothing was changed: foreign key orders_user_id_fkey of public.orders (user_id): 1 of its row(s) reference a user who is not carried (a duplicate emailCollisions merge leaves in legacy_users; it is not reassigned to the row kept): choose emailCollisions deactivate, or move or delete those rows first',
    )
    expect(await snapshot(database.owner)).toEqual(before)
  })

  it('with inbound repoint, moves the foreign key and the views to the new users table in the same transaction', async () => {
    const database = await withReferences('inbound_repoint')
    const report = await runCutover(database, {
      apply: true,
      emailCollisions: 'deactivate',
      inbound: 'repoint',
    })
    expect(report.inbound.foreignKeys.map((key) => [key.rowsWithoutCarriedUser, key.outcome])).toEqual([
      [0, 'repointed to the new users table (NOT VALID, then validated)'],
    ])
    expect(report.applied?.repointed).toEqual(NAMES)

    const { pool } = database.owner
    const key = await pool.query(`
      select confrelid::regclass::text as target, convalidated as validated, confdeltype as on_delete
      from pg_constraint where conname = 'orders_user_id_fkey'`)
    expect(key.rows).toEqual([{ target: 'users', validated: true, on_delete: 'c' }])
    // Nothing references the old table any more: it can be dropped without cascade.
    const leftBehind = await pool.query(`
      select count(*)::int as count from pg_depend
      where refobjid = 'public.legacy_users'::regclass and classid = 'pg_rewrite'::regclass`)
    expect(leftBehind.rows).toEqual([{ count: 0 }])
    expect((await pool.query(`select id, email, username from active_users order by id`)).rows).toEqual([
      { id: 2, email: 'john.doe@example.com', username: null },
      { id: 3, email: 'other@example.com', username: 'other' },
    ])
    expect((await pool.query(`select accounts::int from active_user_count`)).rows).toEqual([{ accounts: 2 }])
    expect(
      (await pool.query(`select email from user_emails order by id`)).rows.map((row) => row.email),
    ).toEqual(['duplicate-1@carried.invalid', 'john.doe@example.com', 'other@example.com'])
    // Recreated with what it had: its options, its comment, the materialized view's index.
    const described = await pool.query(`
      select c.relname as name, c.reloptions as options, obj_description(c.oid, 'pg_class') as comment,
        (select string_agg(i.indexrelid::regclass::text, ',') from pg_index i where i.indrelid = c.oid) as indexes
      from pg_class c where c.relname in ('active_users', 'user_emails') order by c.relname`)
    expect(described.rows).toEqual([
      {
        name: 'active_users',
        options: ['security_barrier=true'],
        comment: 'the accounts that may log in',
        indexes: null,
      },
      { name: 'user_emails', options: null, comment: null, indexes: 'user_emails_id' },
    ])
    // The foreign key holds against the new table: an order for a user who is not there is refused.
    const state = await pool.query(`insert into orders (user_id, item) values (99, 'nobody')`).then(
      () => 'inserted',
      (error: unknown) => sqlState(error),
    )
    expect(state).toBe('23503')
  })
})
