import * as v from 'valibot'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CutoverError } from '#db/cutover/request'
import { EmailSchema } from '#shared/domain/schemas'
import {
  dropDatabase,
  type LegacyDatabase,
  type LegacyRowInput,
  legacyDatabase,
  planOn,
} from '#test/helpers/legacy-database'

/**
 * The cutover's decisions, made by PostgreSQL over the old table (db/cutover/planner.ts): rows loaded into an old
 * database, the operator's choices, and the plan and report that come out. test/integration/cutover.test.ts runs the
 * whole cutover; this file holds the rules, one table at a time.
 */
let database: LegacyDatabase
beforeAll(async () => {
  database = await legacyDatabase('planner')
})
afterAll(() => dropDatabase(database))

type Decisions = Parameters<typeof planOn>[2]
const planCutover = (rows: readonly LegacyRowInput[], decisions: Decisions) =>
  planOn(database, rows, decisions)

interface RowInput {
  email: string
  username?: string | null
  active?: boolean
  updatedAt?: string
  nullFlags?: boolean
  bcrypt?: boolean
}

/** A legacy row; its updatedAt naive UTC, to the microsecond, as the report shows it. */
const legacy = (id: number, input: RowInput): LegacyRowInput & { updatedAt: string; active: boolean } => ({
  id,
  ...input,
  username: input.username ?? null,
  active: input.active ?? true,
  updatedAt: input.updatedAt ?? '2024-01-01T00:00:00.000000Z',
})
type LegacyRow = ReturnType<typeof legacy>

/** A row as the report shows it. */
const shown = ({ id, email, username, active, updatedAt }: LegacyRow) => ({
  id,
  email,
  username: username ?? null,
  active,
  updatedAt,
})

const undecidedEmails = (groups: number) =>
  `${groups} email collision group(s) (emails equal once trimmed and lower-cased): choose emailCollisions (merge or deactivate; --email-collisions=merge|deactivate for npm run cutover)`
const undecidedUsernames = (rows: number) =>
  `${rows} username(s) to change (equal but for case, or longer than 50 characters): choose usernameCollisions (rename or clear; --username-collisions=rename|clear for npm run cutover)`
const undecidedInvalid = (rows: number) =>
  `${rows} invalid email(s): choose invalidEmails (deactivate; --invalid-emails=deactivate for npm run cutover)`

describe('the planner, for a table with nothing to decide', () => {
  const rows = [
    legacy(1, { email: ' Mixed@Case.COM ', username: 'Mixed', nullFlags: true }),
    legacy(2, { email: 'plain@example.com', bcrypt: false }),
    legacy(3, { email: 'asleep@example.com', username: 'asleep', active: false }),
  ]

  it('carries every row with its canonical email and says what the copy does to each, in the whole report', async () => {
    expect(await planCutover(rows, {})).toEqual({
      report: {
        keeperRule:
          'in each group one row keeps its value: the active one first (for usernames, active as carried), then the most recently updated, then the lowest id',
        lists:
          'each list shows at most its first 100 entries (groups in order of value, rows in order of id), and each group at most its first 10 other rows (in keeper order); the count beside each list is whole',
        legacyRows: 3,
        emailCollisions: {
          decidedBy: 'emailCollisions (--email-collisions)',
          choices: {
            merge: 'the others are not carried: they stay in legacy_users only',
            deactivate: 'the others are carried, inactive, as duplicate-<id>@carried.invalid',
          },
          chosen: null,
          groupCount: 0,
          groups: [],
        },
        usernameCollisions: {
          decidedBy: 'usernameCollisions (--username-collisions)',
          choices: {
            rename: 'the others become <name>_<id>, cut to fit 50 characters',
            clear: 'the others are carried without a username',
          },
          chosen: null,
          groupCount: 0,
          groups: [],
          tooLongCount: 0,
          tooLong: [],
        },
        invalidEmails: {
          decidedBy: 'invalidEmails (--invalid-emails)',
          choices: { deactivate: 'carried, inactive, as invalid-<id>@carried.invalid' },
          chosen: null,
          rowCount: 0,
          rows: [],
        },
        inbound: {
          decidedBy: 'inbound (--inbound)',
          choices: {
            refuse: expect.stringContaining('the default: the apply refuses, naming them'),
            repoint: expect.stringContaining('NOT VALID, then validated'),
          },
          chosen: null,
          foreignKeys: [],
          views: [],
        },
        conversion: {
          carried: 3,
          notCarriedCount: 0,
          notCarried: [],
          deactivatedCount: 0,
          deactivated: [],
          emailsCanonicalized: 1,
          nullFlagsCarriedAsFalseCount: 1,
          nullFlagsCarriedAsFalse: [1],
          hashesNotBcryptCount: 1,
          hashesNotBcrypt: [2],
          timestamps: expect.stringContaining('without a time zone are read as UTC'),
          passwords: expect.stringContaining('marked password_carried_over'),
        },
        undecided: [],
      },
      carry: [
        { id: 1, email: 'mixed@case.com', username: 'Mixed', deactivate: false },
        { id: 2, email: 'plain@example.com', username: null, deactivate: false },
        // Inactive already: carried as it is, not counted among the rows the cutover deactivates.
        { id: 3, email: 'asleep@example.com', username: 'asleep', deactivate: false },
      ],
    })
  })

  it('reports the choices it was given even where they decide nothing', async () => {
    const { report } = await planCutover(rows, {
      emailCollisions: 'merge',
      usernameCollisions: 'clear',
      invalidEmails: 'deactivate',
    })
    expect([
      report.emailCollisions.chosen,
      report.usernameCollisions.chosen,
      report.invalidEmails.chosen,
    ]).toEqual(['merge', 'clear', 'deactivate'])
    expect(report.undecided).toEqual([])
  })
})

describe('the planner, for emails equal once trimmed and lower-cased', () => {
  const rows = [
    legacy(1, { email: ' Ann@Example.com ', updatedAt: '2024-01-01T00:00:00.000000Z' }),
    legacy(2, { email: 'ann@example.com', active: false, updatedAt: '2025-01-01T00:00:00.000000Z' }),
    legacy(3, { email: 'ANN@EXAMPLE.COM', updatedAt: '2024-01-01T00:00:00.000000Z' }),
    legacy(4, { email: 'Bob@example.com', updatedAt: '2024-01-01T00:00:00.000000Z', nullFlags: true }),
    legacy(5, { email: 'bob@example.com', updatedAt: '2024-01-01T00:00:00.000001Z', bcrypt: false }),
    legacy(6, { email: 'carol@example.com' }),
  ]
  const [ann1, ann2, ann3, bob4, bob5] = rows as [LegacyRow, LegacyRow, LegacyRow, LegacyRow, LegacyRow]

  it('groups them by canonical email, in order, each keeping the active row, then the latest update, then the lowest id', async () => {
    const { report, carry } = await planCutover(rows, {})
    expect(report.emailCollisions.groups).toEqual([
      {
        value: 'ann@example.com',
        // 1 and 3 are active and updated at the same instant: the lower id keeps; 2, more recent, is inactive.
        keep: shown(ann1),
        otherCount: 2,
        others: [
          { ...shown(ann3), outcome: null },
          { ...shown(ann2), outcome: null },
        ],
      },
      // A microsecond later is later.
      {
        value: 'bob@example.com',
        keep: shown(bob5),
        otherCount: 1,
        others: [{ ...shown(bob4), outcome: null }],
      },
    ])
    expect(report.undecided).toEqual([undecidedEmails(2)])
    expect(report.conversion).toMatchObject({ carried: 6, notCarried: [], deactivated: [] })
    expect(carry).toEqual([])
  })

  it('with merge, carries the keeper alone and leaves the others in the legacy table', async () => {
    const { report, carry } = await planCutover(rows, { emailCollisions: 'merge' })
    expect(report.emailCollisions.groups.flatMap((group) => group.others)).toEqual([
      { ...shown(ann3), outcome: 'not carried: stays in legacy_users' },
      { ...shown(ann2), outcome: 'not carried: stays in legacy_users' },
      { ...shown(bob4), outcome: 'not carried: stays in legacy_users' },
    ])
    expect(carry).toEqual([
      { id: 1, email: 'ann@example.com', username: null, deactivate: false },
      { id: 5, email: 'bob@example.com', username: null, deactivate: false },
      { id: 6, email: 'carol@example.com', username: null, deactivate: false },
    ])
    // A row left behind is neither canonicalized, nor carried with null flags or without a bcrypt hash.
    expect(report.conversion).toMatchObject({
      carried: 3,
      notCarried: [2, 3, 4],
      deactivated: [],
      emailsCanonicalized: 1,
      nullFlagsCarriedAsFalse: [],
      hashesNotBcrypt: [5],
    })
    expect(report.undecided).toEqual([])
  })

  it('with deactivate, carries the others inactive under a placeholder address that reaches no one', async () => {
    const { report, carry } = await planCutover(rows, { emailCollisions: 'deactivate' })
    expect(report.emailCollisions.groups.flatMap((group) => group.others)).toEqual([
      { ...shown(ann3), outcome: 'carried inactive as duplicate-3@carried.invalid' },
      { ...shown(ann2), outcome: 'carried inactive as duplicate-2@carried.invalid' },
      { ...shown(bob4), outcome: 'carried inactive as duplicate-4@carried.invalid' },
    ])
    expect(carry).toEqual([
      { id: 1, email: 'ann@example.com', username: null, deactivate: false },
      { id: 2, email: 'duplicate-2@carried.invalid', username: null, deactivate: true },
      { id: 3, email: 'duplicate-3@carried.invalid', username: null, deactivate: true },
      { id: 4, email: 'duplicate-4@carried.invalid', username: null, deactivate: true },
      { id: 5, email: 'bob@example.com', username: null, deactivate: false },
      { id: 6, email: 'carol@example.com', username: null, deactivate: false },
    ])
    expect(report.conversion).toMatchObject({
      carried: 6,
      notCarried: [],
      deactivated: [2, 3, 4],
      emailsCanonicalized: 1,
      nullFlagsCarriedAsFalse: [4],
      hashesNotBcrypt: [5],
    })
  })

  it('refuses a plan in which two carried rows would share an email, rather than fail mid-copy', async () => {
    const taken = [...rows, legacy(7, { email: 'duplicate-3@carried.invalid' })]
    await expect(planCutover(taken, { emailCollisions: 'deactivate' })).rejects.toThrow(
      new CutoverError(
        'cutover refused: rows 3 and 7 would both have the email duplicate-3@carried.invalid; change one in the old table first',
      ),
    )
  })
})

describe('the planner, for emails this service would not accept', () => {
  const rows = [
    legacy(1, { email: 'not-an-email', username: 'first' }),
    legacy(2, { email: 'NOT-AN-EMAIL' }),
    // The Kelvin sign lower-cases to an ASCII k: refused before lower-casing, as registration refuses it.
    legacy(3, { email: '\u212Aelvin@example.com' }),
    legacy(4, { email: 'fine@example.com' }),
  ]
  const [first, second, kelvin] = rows as [LegacyRow, LegacyRow, LegacyRow]

  it('lists them apart, never as a collision group, and copies nothing until a choice is made', async () => {
    const { report, carry } = await planCutover(rows, {})
    expect(report.invalidEmails.rows).toEqual([
      { ...shown(first), outcome: null },
      { ...shown(second), outcome: null },
      { ...shown(kelvin), outcome: null },
    ])
    expect(report.emailCollisions.groups).toEqual([])
    expect(report.undecided).toEqual([undecidedInvalid(3)])
    expect(carry).toEqual([])
  })

  it('with deactivate, carries them inactive as invalid-<id>, keeping their usernames', async () => {
    const { report, carry } = await planCutover(rows, { invalidEmails: 'deactivate' })
    expect(report.invalidEmails.rows.map((row) => row.outcome)).toEqual([
      'carried inactive as invalid-1@carried.invalid',
      'carried inactive as invalid-2@carried.invalid',
      'carried inactive as invalid-3@carried.invalid',
    ])
    expect(carry).toEqual([
      { id: 1, email: 'invalid-1@carried.invalid', username: 'first', deactivate: true },
      { id: 2, email: 'invalid-2@carried.invalid', username: null, deactivate: true },
      { id: 3, email: 'invalid-3@carried.invalid', username: null, deactivate: true },
      { id: 4, email: 'fine@example.com', username: null, deactivate: false },
    ])
    expect(report.conversion).toMatchObject({ carried: 4, deactivated: [1, 2, 3], emailsCanonicalized: 0 })
  })
})

describe('the planner, for usernames', () => {
  const FIFTY = 'n'.repeat(50)

  it('groups usernames equal but for case, leaves rows without one alone, and lets 50 characters fit', async () => {
    const rows = [
      legacy(1, { email: 'a@example.com', username: 'Sam', updatedAt: '2023-01-01T00:00:00.000000Z' }),
      legacy(2, { email: 'b@example.com', username: 'sam', updatedAt: '2024-01-01T00:00:00.000000Z' }),
      legacy(3, { email: 'c@example.com', username: 'SAM', active: false }),
      legacy(4, { email: 'd@example.com' }),
      legacy(5, { email: 'e@example.com' }),
      legacy(6, { email: 'f@example.com', username: FIFTY }),
    ]
    const [sam1, sam2, sam3] = rows as [LegacyRow, LegacyRow, LegacyRow]
    const { report, carry } = await planCutover(rows, {})
    expect(report.usernameCollisions.groups).toEqual([
      {
        value: 'sam',
        keep: shown(sam2),
        otherCount: 2,
        others: [
          { ...shown(sam1), outcome: null },
          { ...shown(sam3), outcome: null },
        ],
      },
    ])
    expect(report.usernameCollisions.tooLong).toEqual([])
    expect(report.undecided).toEqual([undecidedUsernames(2)])
    expect(carry).toEqual([])
  })

  it('counts a username longer than 50 characters (characters, not bytes) as one to change', async () => {
    const long = 'é'.repeat(51)
    const rows = [legacy(12, { email: 'long@example.com', username: long })]
    const { report } = await planCutover(rows, {})
    expect(report.usernameCollisions.tooLong).toEqual([{ ...shown(rows[0] as LegacyRow), outcome: null }])
    expect(report.undecided).toEqual([undecidedUsernames(1)])

    const renamed = await planCutover(rows, { usernameCollisions: 'rename' })
    expect(renamed.carry).toEqual([
      { id: 12, email: 'long@example.com', username: `${'é'.repeat(47)}_12`, deactivate: false },
    ])
    expect(renamed.report.usernameCollisions.tooLong[0]?.outcome).toBe(`renamed ${'é'.repeat(47)}_12`)
  })

  it('with rename, gives the others <name>_<id>, or <name>_<id>_<n> where that is taken already', async () => {
    const rows = [
      legacy(1, { email: 'a@example.com', username: 'sam', updatedAt: '2025-01-01T00:00:00.000000Z' }),
      legacy(2, { email: 'b@example.com', username: 'Sam' }),
      legacy(3, { email: 'c@example.com', username: 'SAM_2' }),
      legacy(4, { email: 'd@example.com', username: 'SAM' }),
    ]
    const { report, carry } = await planCutover(rows, { usernameCollisions: 'rename' })
    expect(report.usernameCollisions.groups.map((group) => group.others.map((row) => row.outcome))).toEqual([
      ['renamed Sam_2_2', 'renamed SAM_4'],
    ])
    expect(carry.map((row) => row.username)).toEqual(['sam', 'Sam_2_2', 'SAM_2', 'SAM_4'])
    expect(report.undecided).toEqual([])
  })

  it('with clear, carries the others without a username', async () => {
    const rows = [
      legacy(1, { email: 'a@example.com', username: 'sam', updatedAt: '2025-01-01T00:00:00.000000Z' }),
      legacy(2, { email: 'b@example.com', username: 'Sam' }),
      legacy(3, { email: 'c@example.com', username: `${FIFTY}n` }),
    ]
    const { report, carry } = await planCutover(rows, { usernameCollisions: 'clear' })
    expect(report.usernameCollisions.groups[0]?.others.map((row) => row.outcome)).toEqual([
      'username cleared',
    ])
    expect(report.usernameCollisions.tooLong.map((row) => row.outcome)).toEqual(['username cleared'])
    expect(carry.map((row) => row.username)).toEqual(['sam', null, null])
  })

  it('ranks a row the cutover deactivates as inactive, so the name goes to an account that can use it', async () => {
    const rows = [
      legacy(1, { email: 'broken', username: 'Sam', updatedAt: '2025-01-01T00:00:00.000000Z' }),
      legacy(2, { email: 'sam@example.com', username: 'sam', updatedAt: '2020-01-01T00:00:00.000000Z' }),
    ]
    const [broken] = rows as [LegacyRow]
    // Undecided, both are active: the more recently updated keeps it.
    expect(
      (await planCutover(rows, {})).report.usernameCollisions.groups.map((group) => group.keep.id),
    ).toEqual([1])

    const { report, carry } = await planCutover(rows, {
      invalidEmails: 'deactivate',
      usernameCollisions: 'rename',
    })
    expect(report.usernameCollisions.groups).toEqual([
      {
        value: 'sam',
        keep: shown(rows[1] as LegacyRow),
        otherCount: 1,
        others: [{ ...shown(broken), active: false, outcome: 'renamed Sam_1' }],
      },
    ])
    expect(carry).toEqual([
      { id: 1, email: 'invalid-1@carried.invalid', username: 'Sam_1', deactivate: true },
      { id: 2, email: 'sam@example.com', username: 'sam', deactivate: false },
    ])
  })

  it('lets a row that merge leaves behind compete for no username', async () => {
    const rows = [
      legacy(1, { email: 'Ann@example.com', username: 'ann', updatedAt: '2020-01-01T00:00:00.000000Z' }),
      legacy(2, { email: 'ann@example.com', updatedAt: '2024-01-01T00:00:00.000000Z' }),
      legacy(3, { email: 'other@example.com', username: 'ANN', updatedAt: '2019-01-01T00:00:00.000000Z' }),
    ]
    const open = await planCutover(rows, {})
    expect(
      open.report.usernameCollisions.groups.map((group) => [group.keep.id, group.others.map((r) => r.id)]),
    ).toEqual([[1, [3]]])
    expect(open.report.undecided).toEqual([undecidedEmails(1), undecidedUsernames(1)])

    const merged = await planCutover(rows, { emailCollisions: 'merge' })
    expect(merged.report.usernameCollisions.groups).toEqual([])
    expect(merged.report.undecided).toEqual([])
    expect(merged.carry).toEqual([
      { id: 2, email: 'ann@example.com', username: null, deactivate: false },
      { id: 3, email: 'other@example.com', username: 'ANN', deactivate: false },
    ])
  })
})

describe('the planner, while a choice is still open', () => {
  const rows = [
    legacy(1, { email: 'a@example.com', updatedAt: '2020-01-01T00:00:00.000000Z' }),
    legacy(2, { email: 'A@example.com' }),
    legacy(3, { email: 'bad', username: 'x' }),
    legacy(4, { email: 'c@example.com', username: 'X' }),
  ]

  it('names every open choice with its flag, in order, and copies nothing', async () => {
    const { report, carry } = await planCutover(rows, {})
    expect(report.undecided).toEqual([undecidedEmails(1), undecidedUsernames(1), undecidedInvalid(1)])
    expect(carry).toEqual([])
  })

  it('counts as carried every row not left behind, though the copy waits for the rest', async () => {
    const { report, carry } = await planCutover(rows, { emailCollisions: 'merge' })
    expect(report.undecided).toEqual([undecidedUsernames(1), undecidedInvalid(1)])
    expect(report.conversion).toMatchObject({ carried: 3, notCarried: [1], deactivated: [] })
    expect(carry).toEqual([])
  })
})

describe("the planner's email rule, in SQL", () => {
  /** Each distinct once canonical: the rule alone decides, no collision. */
  const EMAILS = [
    'plain@example.com',
    ' Mixed@Case.COM ',
    '\tTab@Example.com\n',
    '\u00a0nbsp@example.com\u3000',
    '\ufeffbom@example.com\u2028',
    '\u212Aelvin@example.com',
    'bell\u0007@example.com',
    'del\u007f@example.com',
    'c1\u0085@example.com',
    'inner space@example.com',
    'a..b@example.com',
    '.lead@example.com',
    'trail.@example.com',
    'nodot@example',
    'dash@-example.com',
    'dash@example-.com',
    'under@ex_ample.com',
    'two@@example.com',
    '@example.com',
    'nolocal@',
    '"quoted"@example.com',
    "o'brien+tag/x=y?z^_`{|}~-!#$%&*@sub.example.co.uk",
    'digits@1.2.3.4',
    'label@a.b-c.de',
    'dots@b..com',
    'É@example.com',
    'İstanbul@example.com',
    `${'l'.repeat(242)}@example.com`,
    `${'m'.repeat(243)}@example.com`,
    `long@${'d'.repeat(63)}.com`,
    `long@${'e'.repeat(64)}.com`,
    `longer@a.${'g'.repeat(63)}.com`,
    `longer@a.${'h'.repeat(64)}.com`,
    'no-at-sign.example.com',
    'dash@example.co-',
    'dash@example.-co',
    'dash@ex-ample.c-o',
    'UPPER@EXAMPLE.COM',
    '',
  ]

  it('accepts, trims and lower-cases exactly the emails EmailSchema does', async () => {
    const rows = EMAILS.map((email, index) => legacy(index + 1, { email }))
    const { report, carry } = await planCutover(rows, {
      emailCollisions: 'deactivate',
      invalidEmails: 'deactivate',
    })
    expect(report.emailCollisions.groupCount).toBe(0)
    const expected = EMAILS.map((email, index) => {
      const parsed = v.safeParse(EmailSchema, email)
      return parsed.success ? parsed.output : `invalid-${index + 1}@carried.invalid`
    })
    expect(carry.map((row) => row.email)).toEqual(expected)
    // Not a vacuous comparison: both kinds are among them.
    expect(expected.filter((email) => email.startsWith('invalid-')).length).toBeGreaterThan(15)
    expect(expected.filter((email) => !email.startsWith('invalid-')).length).toBeGreaterThan(8)
  })
})

describe("the planner's bcrypt shape, in SQL", () => {
  const tail = (length: number) => 'A./0z'.repeat(11).slice(0, length)
  const HASHES: [string, boolean][] = [
    [`$2b$12$${tail(53)}`, true],
    [`$2a$04$${tail(53)}`, true],
    [`$2y$10$${tail(53)}`, true],
    [`$2x$10$${tail(53)}`, true],
    [`$2$10$${tail(53)}`, true],
    [`$2b$12$${tail(52)}`, false],
    [`$2b$12$${tail(54)}`, false],
    [`$2$10$${tail(54)}`, false],
    [`$2c$12$${tail(53)}`, false],
    [`$2b$1$${tail(54)}`, false],
    [`$2b$12$${tail(52)}!`, false],
    ['$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA', false],
    ['', false],
  ]

  it('counts as no bcrypt hash exactly what is not $2[abxy]$NN$ and 53 characters', async () => {
    const rows = HASHES.map(([hash], index) => ({
      ...legacy(index + 1, { email: `h${index}@example.com` }),
      hash,
    }))
    const { report } = await planCutover(rows, {})
    expect(report.conversion.hashesNotBcrypt).toEqual(
      HASHES.flatMap(([, bcrypt], index) => (bcrypt ? [] : [index + 1])),
    )
  })
})
