/**
 * The cutover's decisions, computed by the database inside the cutover's transaction, whatever the old table's size:
 * one statement reads the old table once and writes each row's fate into a temporary table, `cutover_plan` (its
 * canonical email, its place in its email group and in its username group by window functions, the email and username
 * it is carried with, or that it is not); a second gives renamed usernames; the copy is then one insert … select from
 * it. Node only holds the report, whose lists are bounded (REPORT_LIST_LIMIT, GROUP_OTHERS_LIMIT) beside whole counts.
 */
import { type SQL, sql } from 'drizzle-orm'
import { EMAIL_MAX_LENGTH } from '#shared/domain/schemas'
import type { InboundReference } from './inbound.ts'
import type { Executor, LegacyTable } from './inspection.ts'
import {
  CUTOVER_DECISIONS,
  type CutoverDecision,
  type CutoverRequest,
  GROUP_OTHERS_LIMIT,
  LEGACY_TABLE,
  PLACEHOLDER_DOMAIN,
  REPORT_LIST_LIMIT,
  refused,
  USERNAME_MAX_LENGTH,
} from './request.ts'

const KEEPER_RULE =
  'in each group one row keeps its value: the active one first (for usernames, active as carried), then the most recently updated, then the lowest id'
const LISTS = `each list shows at most its first ${REPORT_LIST_LIMIT} entries (groups in order of value, rows in order of id), and each group at most its first ${GROUP_OTHERS_LIMIT} other rows (in keeper order); the count beside each list is whole`

/** A legacy row as the report shows it: enough to recognise it, never its hash. */
export interface LegacyRowSummary {
  id: number
  email: string
  username: string | null
  active: boolean
  /** In UTC, to the microsecond. */
  updatedAt: string
}

/** A row that does not keep its value, and what happens to it; `null` while its flag is not chosen. */
export interface RowOutcome extends LegacyRowSummary {
  outcome: string | null
}

export interface CollisionGroup {
  /** The canonical email, or the lower-cased username, the group shares. */
  value: string
  keep: LegacyRowSummary
  /** The rows that do not keep the value: `others` shows the first GROUP_OTHERS_LIMIT of them. */
  otherCount: number
  others: RowOutcome[]
}

interface DecisionReport {
  /** The event key, then the script's flag, that decides these rows. */
  decidedBy: string
  /** Each value of the flag, and what it does to the rows that do not keep theirs. */
  choices: Record<string, string>
  chosen: string | null
}

/** Another table's foreign key to users, as the report shows it. */
export interface InboundForeignKey {
  name: string
  /** `schema.table`, and its columns. */
  table: string
  columns: string[]
  /** What it references: `users(id)`. */
  references: string
  /** Rows whose user is not carried (merged away, or missing), counted when it references users(id); else null. */
  rowsWithoutCarriedUser: number | null
  outcome: string
}

export interface InboundView {
  name: string
  kind: 'view' | 'materialized view'
  outcome: string
}

export interface CutoverReport {
  outcome: 'dry run' | 'applied'
  keeperRule: string
  /** How the lists below are bounded. */
  lists: string
  legacyRows: number
  emailCollisions: DecisionReport & { groupCount: number; groups: CollisionGroup[] }
  usernameCollisions: DecisionReport & {
    /** Counted among the rows that will be carried: a row `merge` leaves behind competes for no username. */
    groupCount: number
    groups: CollisionGroup[]
    tooLongCount: number
    tooLong: RowOutcome[]
  }
  invalidEmails: DecisionReport & { rowCount: number; rows: RowOutcome[] }
  /** Other tables' foreign keys and views that reference users (the old table): renamed, it would take them along. */
  inbound: DecisionReport & { foreignKeys: InboundForeignKey[]; views: InboundView[] }
  /** What the copy does to every row, conflict or not; each list of ids shows its first REPORT_LIST_LIMIT. */
  conversion: {
    carried: number
    notCarriedCount: number
    notCarried: number[]
    /** Carried inactive by this cutover's choices (placeholders), besides rows that were inactive already. */
    deactivatedCount: number
    deactivated: number[]
    emailsCanonicalized: number
    nullFlagsCarriedAsFalseCount: number
    nullFlagsCarriedAsFalse: number[]
    /** Carried, but no bcrypt hash: these accounts cannot log in until their password is reset. */
    hashesNotBcryptCount: number
    hashesNotBcrypt: number[]
    timestamps: string
    passwords: string
  }
  /** Choices still to make, each naming its flag; an apply runs only when this is empty. */
  undecided: string[]
  applied?: {
    legacyTable: string
    migrationsInCutover: number
    /** Applied by the migrate run after the commit (it also creates or aligns the API's role). */
    migrationsAfterCommit?: number
    /** The highest id the old backend handed out: new accounts get ids above it. */
    idsContinueAfter: number
    /** Other tables' foreign keys and views moved to the new users table (`inbound: repoint`). */
    repointed: string[]
    dropLater: string
  }
}

/** The temporary table the plan is written to: made before the transaction, so a read-only dry run may fill it. */
export const PLAN_TABLE = sql.raw('pg_temp.cutover_plan')

/**
 * Fate of a row by its email: `carried` (its canonical email), `merged` (not carried), `duplicate` or `invalid`
 * (carried inactive under a placeholder), or null while the flag that decides it is not chosen.
 */
export async function createPlanTable(db: Executor): Promise<void> {
  await db.execute(sql`create temporary table if not exists cutover_plan (
    id integer primary key,
    email text,
    username text,
    username_key text,
    username_length integer,
    active boolean not null,
    updated_at timestamptz,
    null_flags boolean not null,
    bcrypt boolean not null,
    canonical text,
    email_rank integer,
    email_group_size integer,
    fate text,
    new_email text,
    deactivate boolean not null,
    active_as_carried boolean not null,
    too_long boolean not null,
    username_rank integer,
    username_group_size integer,
    changing boolean not null,
    new_username text)`)
}

/** The characters JavaScript's String.prototype.trim() removes, which EmailSchema's trim uses. */
const JS_WHITESPACE =
  '\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff'
/** ASCII_EMAIL's local part. */
const LOCAL_PART = "^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+$"
/** ASCII_EMAIL's domain, but for the length of a label and a hyphen at either end of one, checked apart. */
const DOMAIN = '^[a-z0-9-]+([.][a-z0-9-]+)+$'
const LABEL_MAX_LENGTH = 63

/**
 * EmailSchema in SQL, over `lowered` (the email trimmed as JavaScript trims, kept only when that is printable ASCII
 * of at most EMAIL_MAX_LENGTH, then lower-cased as ASCII whatever the server's locale) and its `local_part` and
 * `domain` either side of the first `@`: ASCII_EMAIL, no `..`, no leading `.`, no `.@`. Its value is the canonical
 * email, or null for an email registration would refuse. ASCII_EMAIL is written out in plain string checks and
 * patterns without bounded repetition, which PostgreSQL's regex engine runs about ten times slower (seconds per
 * million rows); test/integration/cutover-planner.test.ts holds the two to the same answers.
 */
const CANONICAL_EMAIL = sql`case when lowered is not null and strpos(lowered, '@') > 1 and strpos(domain, '@') = 0
    and local_part ~ ${LOCAL_PART}::text and domain ~ ${DOMAIN}::text
    and left(domain, 1) <> '-' and right(domain, 1) <> '-' and strpos(domain, '.-') = 0 and strpos(domain, '-.') = 0
    and (char_length(domain) <= ${LABEL_MAX_LENGTH}::int or (select max(char_length(label))
      from unnest(string_to_array(domain, '.')) as label) <= ${LABEL_MAX_LENGTH}::int)
    and strpos(lowered, '..') = 0 and left(lowered, 1) <> '.' and strpos(lowered, '.@') = 0
  then lowered end`

/** A bcrypt hash's shape: `$2$`, `$2a$`, `$2b$`, `$2x$` or `$2y$`, a two-digit cost, `$`, then 53 characters. */
const bcryptShaped = (hash: SQL) =>
  sql`coalesce(${hash} ~ '^[$]2[abxy]?[$][0-9][0-9][$][./A-Za-z0-9]*$'
    and char_length(${hash}) = case when substr(${hash}, 3, 1) = '$' then 59 else 60 end, false)`

/**
 * Fills `cutover_plan` from the old table in one statement: every rule but the renames. Email groups rank the rows
 * whose email is valid; username groups rank, among the rows that will be carried, those whose username fits, a row
 * the cutover deactivates counting as inactive.
 */
function fillPlan(table: LegacyTable, decisions: Omit<CutoverRequest, 'apply'>): SQL {
  const emails = sql`${decisions.emailCollisions ?? null}::text`
  const invalid = sql`${decisions.invalidEmails ?? null}::text`
  return sql`insert into ${PLAN_TABLE} (id, email, username, username_key, username_length, active, updated_at,
      null_flags, bcrypt, canonical, email_rank, email_group_size, fate, new_email, deactivate, active_as_carried,
      too_long, username_rank, username_group_size, changing, new_username)
    with source as (
      select l.id, l.email, l.username, lower(l.username) as username_key,
        char_length(l.username) as username_length, coalesce(l.is_active, false) as active,
        coalesce(${table.updatedAt}, ${table.createdAt}) as updated_at,
        (l.is_active is null or l.is_superuser is null) as null_flags,
        ${bcryptShaped(sql`l.hashed_password`)} as bcrypt, btrim(l.email, ${JS_WHITESPACE}::text) as trimmed
      from public.users l
      -- Each "offset 0" keeps its subquery whole, so that its values are computed once per row, not once per use.
      offset 0
    ), lowered as (
      select s.*, case when trimmed ~ '^[ -~]*$' and char_length(trimmed) <= ${EMAIL_MAX_LENGTH}::int
          then lower(trimmed collate "C") end as lowered
      from source s offset 0
    ), parted as (
      select w.*, split_part(lowered, '@', 1) as local_part, substr(lowered, strpos(lowered, '@') + 1) as domain
      from lowered w offset 0
    ), base as (
      select p.*, ${CANONICAL_EMAIL} as canonical from parted p
    ), by_email as (
      -- Grouped by bytes ("C"): equality is the same, and the sort skips the locale's collation.
      select b.*,
        case when canonical is not null then row_number() over (partition by canonical collate "C"
          order by active desc, updated_at desc nulls last, id) end as email_rank,
        case when canonical is not null then count(*) over (partition by canonical collate "C") end as email_group_size
      from base b
    ), fated as (
      select e.*, case
          when canonical is null then case when ${invalid} = 'deactivate' then 'invalid' end
          when email_rank = 1 then 'carried'
          when ${emails} = 'merge' then 'merged'
          when ${emails} = 'deactivate' then 'duplicate'
        end as fate
      from by_email e
    ), carried_as as (
      select f.*, case fate
          when 'carried' then canonical
          when 'duplicate' then 'duplicate-' || id || ${`@${PLACEHOLDER_DOMAIN}`}::text
          when 'invalid' then 'invalid-' || id || ${`@${PLACEHOLDER_DOMAIN}`}::text
        end as new_email,
        coalesce(fate in ('duplicate', 'invalid'), false) as deactivate,
        fate is distinct from 'merged' as candidate
      from fated f
    ), fits as (
      select c.*, active and not deactivate as active_as_carried,
        candidate and username is not null and username_length > ${USERNAME_MAX_LENGTH}::int as too_long,
        case when candidate and username is not null and username_length <= ${USERNAME_MAX_LENGTH}::int
          then username_key end as contested_key
      from carried_as c
    ), by_username as (
      select f.*,
        case when contested_key is not null then row_number() over (partition by contested_key collate "C"
          order by active_as_carried desc, updated_at desc nulls last, id) end as username_rank,
        case when contested_key is not null then count(*) over (partition by contested_key collate "C") end
          as username_group_size
      from fits f
    )
    select id, email, username, username_key, username_length, active, updated_at, null_flags, bcrypt, canonical,
      email_rank, email_group_size, fate, new_email, deactivate, active_as_carried, too_long, username_rank,
      username_group_size, too_long or coalesce(username_rank > 1, false) as changing,
      case when candidate and not (too_long or coalesce(username_rank > 1, false)) then username end as new_username
    from by_username`
}

/** How many `_<id>_<n>` a rename tries before the cutover refuses (it takes one that no name kept has). */
const RENAME_ATTEMPTS = 1000

/**
 * `rename`: each changing row becomes `<name>_<id>`, cut to fit; where a name kept takes that already (regardless of
 * case), `<name>_<id>_<n>` with the lowest n that neither a name kept nor another row's `<name>_<id>` takes. Two
 * `<name>_<id>` never meet (their ids differ after the last `_`), nor do two `_<id>_<n>`.
 */
const renameUsernames = sql`with kept as (
    select username_key as key from ${PLAN_TABLE}
    where fate is distinct from 'merged' and username is not null and not changing
  ), first_try as (
    select id, username, left(username, ${USERNAME_MAX_LENGTH}::int - char_length('_' || id)) || '_' || id as name
    from ${PLAN_TABLE} where changing
  ), clashing as (
    select f.id, f.username from first_try f where exists (select 1 from kept k where k.key = lower(f.name))
  ), retried as (
    select distinct on (c.id) c.id, r.name from clashing c
    cross join lateral (
      select n, left(c.username, ${USERNAME_MAX_LENGTH}::int - char_length('_' || c.id || '_' || n)) || '_' || c.id
        || '_' || n as name
      from generate_series(2, ${RENAME_ATTEMPTS}::int) n) r
    where not exists (select 1 from kept k where k.key = lower(r.name))
      and not exists (select 1 from first_try o where lower(o.name) = lower(r.name))
    order by c.id, r.n
  )
  update ${PLAN_TABLE} p set new_username = case when c.id is null then f.name else r.name end
  from first_try f left join clashing c on c.id = f.id left join retried r on r.id = f.id
  where p.id = f.id`

const undecidedMessage = (key: CutoverDecision, count: number) => {
  const { flag, what, choices } = CUTOVER_DECISIONS[key]
  const values = Object.keys(choices)
  return `${count} ${what}: choose ${key} (${values.join(' or ')}; ${flag}=${values.join('|')} for npm run cutover)`
}

const decisionReport = (key: CutoverDecision, chosen: string | undefined): DecisionReport => ({
  decidedBy: `${key} (${CUTOVER_DECISIONS[key].flag})`,
  choices: CUTOVER_DECISIONS[key].choices,
  chosen: chosen ?? null,
})

type PlanRow = {
  id: number
  email: string
  username: string | null
  active: boolean
  active_as_carried: boolean
  updated_at: string
  fate: string | null
  new_email: string | null
  new_username: string | null
}

const ROW_COLUMNS = sql`id, email, username, active, active_as_carried, fate, new_email, new_username,
  coalesce(to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), '') as updated_at`

const summary = (row: PlanRow, active = row.active): LegacyRowSummary => ({
  id: row.id,
  email: row.email,
  username: row.username,
  active,
  updatedAt: row.updated_at,
})

const count = (value: unknown) => Number(value ?? 0)

/**
 * Plans the cutover in the database: fills `cutover_plan` (createPlanTable made it, empty) from the old table and
 * answers the report, its lists bounded. Refuses, naming two rows, a plan in which two carried rows would share an
 * email or a username, rather than fail mid-copy.
 */
export async function planCutover(
  db: Executor,
  table: LegacyTable,
  decisions: Omit<CutoverRequest, 'apply'>,
): Promise<Omit<CutoverReport, 'outcome' | 'applied'>> {
  await db.execute(fillPlan(table, decisions))
  if (decisions.usernameCollisions === 'rename') {
    await db.execute(renameUsernames)
    const stuck = await db.execute<{ id: number }>(
      sql`select id from ${PLAN_TABLE} where changing and new_username is null order by id limit 1`,
    )
    const [row] = stuck.rows
    if (row)
      throw refused(
        `row ${row.id}'s username has no free <name>_${row.id}_<n> below n = ${RENAME_ATTEMPTS}; change it in the old table first`,
      )
  }
  await db.execute(sql`analyze ${PLAN_TABLE}`)

  const totals = (
    await db.execute<Record<string, string | number>>(sql`select count(*) as legacy_rows,
      count(*) filter (where email_rank = 1 and email_group_size > 1) as email_groups,
      count(*) filter (where canonical is null) as invalid,
      count(*) filter (where username_rank = 1 and username_group_size > 1) as username_groups,
      count(*) filter (where too_long) as too_long,
      count(*) filter (where changing) as changing,
      count(*) filter (where fate = 'merged') as not_carried,
      count(*) filter (where deactivate) as deactivated,
      count(*) filter (where fate = 'carried' and canonical is distinct from email) as canonicalized,
      count(*) filter (where null_flags and fate is distinct from 'merged') as null_flags,
      count(*) filter (where not bcrypt and fate is distinct from 'merged') as not_bcrypt
    from ${PLAN_TABLE}`)
  ).rows[0]
  const total = (name: string) => count(totals?.[name])

  const undecided: string[] = []
  if (!decisions.emailCollisions && total('email_groups') > 0)
    undecided.push(undecidedMessage('emailCollisions', total('email_groups')))
  if (!decisions.usernameCollisions && total('changing') > 0)
    undecided.push(undecidedMessage('usernameCollisions', total('changing')))
  if (!decisions.invalidEmails && total('invalid') > 0)
    undecided.push(undecidedMessage('invalidEmails', total('invalid')))
  if (undecided.length === 0) {
    await assertUnique(db, sql`new_email`, 'email')
    await assertUnique(db, sql`lower(new_username)`, 'username')
  }

  const emailOutcome = (row: PlanRow) =>
    row.fate === 'merged'
      ? `not carried: stays in ${LEGACY_TABLE}`
      : row.fate === 'duplicate' || row.fate === 'invalid'
        ? `carried inactive as ${row.new_email}`
        : null
  const usernameOutcome = (row: PlanRow) =>
    decisions.usernameCollisions === 'rename'
      ? `renamed ${row.new_username}`
      : decisions.usernameCollisions === 'clear'
        ? 'username cleared'
        : null

  const emailGroups = await groups(db, {
    key: sql`canonical`,
    rank: sql`email_rank`,
    size: sql`email_group_size`,
    outcome: emailOutcome,
    asCarried: false,
  })
  const usernameGroups = await groups(db, {
    key: sql`case when username_rank is not null then username_key end`,
    rank: sql`username_rank`,
    size: sql`username_group_size`,
    outcome: usernameOutcome,
    asCarried: true,
  })
  const first = async (where: SQL) =>
    (
      await db.execute<PlanRow>(
        sql`select ${ROW_COLUMNS} from ${PLAN_TABLE} where ${where} order by id limit ${REPORT_LIST_LIMIT}`,
      )
    ).rows
  const tooLong = await first(sql`too_long`)
  const invalid = await first(sql`canonical is null`)
  const ids = (
    await db.execute<Record<string, number[]>>(sql`select
      ${firstIds(sql`fate = 'merged'`)} as not_carried, ${firstIds(sql`deactivate`)} as deactivated,
      ${firstIds(sql`null_flags and fate is distinct from 'merged'`)} as null_flags,
      ${firstIds(sql`not bcrypt and fate is distinct from 'merged'`)} as not_bcrypt`)
  ).rows[0]
  const idList = (name: string) => (ids?.[name] ?? []).map(Number)
  const decided = undecided.length === 0

  return {
    keeperRule: KEEPER_RULE,
    lists: LISTS,
    legacyRows: total('legacy_rows'),
    emailCollisions: {
      ...decisionReport('emailCollisions', decisions.emailCollisions),
      groupCount: total('email_groups'),
      groups: emailGroups,
    },
    usernameCollisions: {
      ...decisionReport('usernameCollisions', decisions.usernameCollisions),
      groupCount: total('username_groups'),
      groups: usernameGroups,
      tooLongCount: total('too_long'),
      tooLong: tooLong.map((row) => ({
        ...summary(row, row.active_as_carried),
        outcome: usernameOutcome(row),
      })),
    },
    invalidEmails: {
      ...decisionReport('invalidEmails', decisions.invalidEmails),
      rowCount: total('invalid'),
      rows: invalid.map((row) => ({ ...summary(row), outcome: emailOutcome(row) })),
    },
    inbound: { ...decisionReport('inbound', decisions.inbound), foreignKeys: [], views: [] },
    conversion: {
      carried: total('legacy_rows') - total('not_carried'),
      notCarriedCount: total('not_carried'),
      notCarried: idList('not_carried'),
      // Only a decided plan deactivates anything: until then nothing is copied.
      deactivatedCount: decided ? total('deactivated') : 0,
      deactivated: decided ? idList('deactivated') : [],
      emailsCanonicalized: total('canonicalized'),
      nullFlagsCarriedAsFalseCount: total('null_flags'),
      nullFlagsCarriedAsFalse: idList('null_flags'),
      hashesNotBcryptCount: total('not_bcrypt'),
      hashesNotBcrypt: idList('not_bcrypt'),
      timestamps:
        'created_at and updated_at without a time zone are read as UTC (the old code wrote datetime.utcnow()) and stored with one; a column with a time zone is kept as it is',
      passwords:
        "hashes are copied as they are and marked password_carried_over: passlib's bcrypt read only a password's first 72 bytes, so such an account logs in with what it types, its first 72 bytes checked, until it sets a new password",
    },
    undecided,
  }
}

/** The first REPORT_LIST_LIMIT ids of the rows `where` holds, as an array. */
const firstIds = (where: SQL) =>
  sql`(select coalesce(array_agg(id order by id), '{}') from (select id from ${PLAN_TABLE} where ${where}
    order by id limit ${REPORT_LIST_LIMIT}) as first)`

/** The first REPORT_LIST_LIMIT groups (in byte order of their value), each its keeper and first others. */
async function groups(
  db: Executor,
  of: { key: SQL; rank: SQL; size: SQL; outcome: (row: PlanRow) => string | null; asCarried: boolean },
): Promise<CollisionGroup[]> {
  const result = await db.execute<PlanRow & { value: string; rank: number; size: number }>(sql`
    with shown as (
      select ${of.key} as value from ${PLAN_TABLE} where ${of.rank} = 1 and ${of.size} > 1
      order by ${of.key} collate "C" limit ${REPORT_LIST_LIMIT}
    )
    select s.value, ${of.rank} as rank, ${of.size} as size, ${ROW_COLUMNS}
    from ${PLAN_TABLE} p join shown s on s.value = ${of.key}
    where ${of.rank} <= ${GROUP_OTHERS_LIMIT + 1}::int
    order by s.value collate "C", ${of.rank}`)
  const found: CollisionGroup[] = []
  for (const row of result.rows) {
    const active = of.asCarried ? row.active_as_carried : row.active
    if (Number(row.rank) === 1)
      found.push({
        value: row.value,
        keep: summary(row, active),
        otherCount: Number(row.size) - 1,
        others: [],
      })
    else found.at(-1)?.others.push({ ...summary(row, active), outcome: of.outcome(row) })
  }
  return found
}

/** Two carried rows that would end up with the same email or username: refused rather than failed mid-copy. */
async function assertUnique(db: Executor, key: SQL, what: string) {
  const clash = await db.execute<{ key: string; first: number; second: number }>(sql`
    select key, first, second from (
      select ${key} as key, id as second, lag(id) over (partition by ${key} collate "C" order by id) as first,
        row_number() over (partition by ${key} collate "C" order by id) as place
      from ${PLAN_TABLE} where fate is distinct from 'merged' and ${key} is not null
    ) as keyed where place = 2 order by second limit 1`)
  const [found] = clash.rows
  if (found)
    throw refused(
      `rows ${found.first} and ${found.second} would both have the ${what} ${found.key}; change one in the old table first`,
    )
}

/** Fills the plan's inbound section: what becomes of each reference under the operator's choice. */
export function inboundReport(
  report: Omit<CutoverReport, 'outcome' | 'applied'>,
  references: readonly InboundReference[],
  choice: CutoverRequest['inbound'],
): Omit<CutoverReport, 'outcome' | 'applied'> {
  const repoint = choice === 'repoint'
  const refusedOutcome =
    'refused: the apply stops while it references users (choose inbound repoint, or drop it)'
  const foreignKeys: InboundForeignKey[] = []
  const views: InboundView[] = []
  for (const reference of references) {
    if (reference.kind === 'foreign key') {
      const why = reference.cannotRepoint ?? blocked(reference.rowsWithoutCarriedUser)
      foreignKeys.push({
        name: reference.name,
        table: reference.table,
        columns: reference.columns,
        references: reference.references,
        rowsWithoutCarriedUser: reference.rowsWithoutCarriedUser,
        outcome: !repoint
          ? refusedOutcome
          : why
            ? `cannot be repointed: ${why}`
            : 'repointed to the new users table (NOT VALID, then validated)',
      })
    } else {
      views.push({
        name: reference.name,
        kind: reference.kind,
        outcome: !repoint
          ? refusedOutcome
          : reference.cannotRepoint
            ? `cannot be repointed: ${reference.cannotRepoint}`
            : `recreated over the new users table from its definition`,
      })
    }
  }
  return { ...report, inbound: { ...report.inbound, foreignKeys, views } }
}

const blocked = (rows: number | null) =>
  rows
    ? `${rows} row(s) reference a user who is not carried (a duplicate merge leaves in ${LEGACY_TABLE}): choose emailCollisions deactivate, or move or delete those rows first`
    : undefined
