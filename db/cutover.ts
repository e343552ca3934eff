/**
 * The cutover from the FastAPI backend's database, run once by an operator. The old `users` table (as Alembic made
 * it) becomes this service's in one transaction: the old table, its indexes, constraints and sequence are renamed
 * `legacy_*`, the committed migrations are applied and recorded as `migrate` records them, the rows are copied in
 * this service's form and the id sequence is moved past every id the old backend handed out. A dry run reads and
 * reports, changing nothing. The legacy table stays for the operator to drop.
 */
import { type SQL, sql } from 'drizzle-orm'
import { drizzle, type NeonDatabase } from 'drizzle-orm/neon-serverless'
import * as v from 'valibot'
import { EmailSchema } from '#shared/domain/schemas'
import { connectDirect } from './client.ts'
import { sqlState } from './errors.ts'
import { committedMigrations, MIGRATION_LOCK_KEY } from './migrate.ts'

/** Where the old table goes, and the prefix of everything of it whose name ours would take. */
export const LEGACY_TABLE = 'legacy_users'
const LEGACY_PREFIX = 'legacy_'
const USERNAME_MAX_LENGTH = 50
/** A reserved top-level domain (RFC 2606): a placeholder address can never reach anyone. */
const PLACEHOLDER_DOMAIN = 'carried.invalid'
const COPY_BATCH_ROWS = 5000
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

const KEEPER_RULE =
  'in each group one row keeps its value: the active one first (for usernames, active as carried), then the most recently updated, then the lowest id'

/** The operator's choices, each with its flag for `npm run cutover` and what every value does. */
export const CUTOVER_DECISIONS = {
  emailCollisions: {
    flag: '--email-collisions',
    what: 'email collision group(s) (emails equal once trimmed and lower-cased)',
    choices: {
      merge: `the others are not carried: they stay in ${LEGACY_TABLE} only`,
      deactivate: `the others are carried, inactive, as duplicate-<id>@${PLACEHOLDER_DOMAIN}`,
    },
  },
  usernameCollisions: {
    flag: '--username-collisions',
    what: `username(s) to change (equal but for case, or longer than ${USERNAME_MAX_LENGTH} characters)`,
    choices: {
      rename: `the others become <name>_<id>, cut to fit ${USERNAME_MAX_LENGTH} characters`,
      clear: 'the others are carried without a username',
    },
  },
  invalidEmails: {
    flag: '--invalid-emails',
    what: 'invalid email(s)',
    choices: {
      deactivate: `carried, inactive, as invalid-<id>@${PLACEHOLDER_DOMAIN}`,
    },
  },
} as const

export type CutoverDecision = keyof typeof CUTOVER_DECISIONS

type ChoicesOf<K extends CutoverDecision> = keyof (typeof CUTOVER_DECISIONS)[K]['choices']

const choice = <T extends string>(choices: readonly [T, ...T[]]) =>
  v.optional(v.picklist(choices, `must be ${choices.join(' or ')}`))

/** What the function's event (and the script's flags) may say: `apply` false is the dry run. */
export const CutoverRequestSchema = v.strictObject(
  {
    apply: v.optional(v.boolean('must be true or false'), false),
    emailCollisions: choice<ChoicesOf<'emailCollisions'>>(['merge', 'deactivate']),
    usernameCollisions: choice<ChoicesOf<'usernameCollisions'>>(['rename', 'clear']),
    invalidEmails: choice<ChoicesOf<'invalidEmails'>>(['deactivate']),
  },
  'the cutover takes only apply, emailCollisions, usernameCollisions and invalidEmails',
)
export type CutoverRequest = v.InferOutput<typeof CutoverRequestSchema>

/** A cutover that will not run, or did not: the message is written for the operator (no SQL, no hash). */
export class CutoverError extends Error {
  override readonly name = 'CutoverError'
}

const refused = (reason: string) => new CutoverError(`cutover refused: ${reason}`)

/** The request, or a refusal naming each thing wrong with it. */
export function parseCutoverRequest(input: unknown): CutoverRequest {
  const parsed = v.safeParse(CutoverRequestSchema, input ?? {})
  if (parsed.success) return parsed.output
  const problems = parsed.issues.map((issue) => {
    const key = issue.path?.map((item) => String(item.key)).join('.')
    return key ? `${key}: ${issue.message}` : issue.message
  })
  throw refused(`the request is not one it takes (${problems.join('; ')})`)
}

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
  others: RowOutcome[]
}

interface DecisionReport {
  /** The event key, then the script's flag, that decides these rows. */
  decidedBy: string
  /** Each value of the flag, and what it does to the rows that do not keep theirs. */
  choices: Record<string, string>
  chosen: string | null
}

export interface CutoverReport {
  outcome: 'dry run' | 'applied'
  keeperRule: string
  legacyRows: number
  emailCollisions: DecisionReport & { groups: CollisionGroup[] }
  usernameCollisions: DecisionReport & {
    /** Counted among the rows that will be carried: a row `merge` leaves behind competes for no username. */
    groups: CollisionGroup[]
    tooLong: RowOutcome[]
  }
  invalidEmails: DecisionReport & { rows: RowOutcome[] }
  /** What the copy does to every row, conflict or not. */
  conversion: {
    carried: number
    notCarried: number[]
    /** Carried inactive by this cutover's choices (placeholders), besides rows that were inactive already. */
    deactivated: number[]
    emailsCanonicalized: number
    nullFlagsCarriedAsFalse: number[]
    /** Carried, but no bcrypt hash: these accounts cannot log in until their password is reset. */
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
    dropLater: string
  }
}

/** A row of the old table, as the planner needs it. */
export interface LegacyRow extends LegacyRowSummary {
  /** `lower(username)` as PostgreSQL computes it, which the unique index of usernames uses. */
  usernameKey: string | null
  /** In characters, as `varchar(50)` counts them. */
  usernameLength: number
  nullFlags: boolean
  bcrypt: boolean
}

/** A row to copy: its final email and username, and whether the cutover carries it inactive. */
export interface CarriedRow {
  id: number
  email: string
  username: string | null
  deactivate: boolean
}

const summary = ({ id, email, username, active, updatedAt }: LegacyRow): LegacyRowSummary => ({
  id,
  email,
  username,
  active,
  updatedAt,
})

/** The keeper rule: active first, then the most recently updated, then the lowest id. */
const keeperFirst = (a: LegacyRow, b: LegacyRow) =>
  Number(b.active) - Number(a.active) ||
  (a.updatedAt === b.updatedAt ? 0 : a.updatedAt > b.updatedAt ? -1 : 1) ||
  a.id - b.id

function groupsOf(rows: LegacyRow[], keyOf: (row: LegacyRow) => string | null) {
  const byKey = new Map<string, LegacyRow[]>()
  for (const row of rows) {
    const key = keyOf(row)
    if (key === null) continue
    const members = byKey.get(key)
    if (members) members.push(row)
    else byKey.set(key, [row])
  }
  return [...byKey]
    .filter(([, members]) => members.length > 1)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([value, members]) => {
      const [keep, ...others] = [...members].sort(keeperFirst) as [LegacyRow, ...LegacyRow[]]
      return { value, keep, others }
    })
}

/** `<name>_<id>`, cut to fit, and not yet taken (a further `_<n>` if it is). */
function renamed(name: string, id: number, taken: Set<string>): string {
  for (let attempt = 1; ; attempt++) {
    const suffix = attempt === 1 ? `_${id}` : `_${id}_${attempt}`
    const candidate = `${[...name].slice(0, USERNAME_MAX_LENGTH - suffix.length).join('')}${suffix}`
    if (!taken.has(candidate.toLowerCase())) {
      taken.add(candidate.toLowerCase())
      return candidate
    }
  }
}

const decisionReport = (key: CutoverDecision, chosen: string | undefined): DecisionReport => ({
  decidedBy: `${key} (${CUTOVER_DECISIONS[key].flag})`,
  choices: CUTOVER_DECISIONS[key].choices,
  chosen: chosen ?? null,
})

const undecidedMessage = (key: CutoverDecision, count: number) => {
  const { flag, what, choices } = CUTOVER_DECISIONS[key]
  const values = Object.keys(choices)
  return `${count} ${what}: choose ${key} (${values.join(' or ')}; ${flag}=${values.join('|')} for npm run cutover)`
}

/**
 * What the cutover does with each row, given the operator's choices: the conflicts, grouped, with the row each group
 * keeps; what becomes of the others; and, once nothing is left undecided, the rows to copy.
 */
export function planCutover(
  rows: readonly LegacyRow[],
  decisions: Omit<CutoverRequest, 'apply'>,
): { report: Omit<CutoverReport, 'outcome' | 'applied'>; carry: CarriedRow[] } {
  const canonical = new Map<number, string>()
  const invalid: LegacyRow[] = []
  for (const row of rows) {
    const parsed = v.safeParse(EmailSchema, row.email)
    if (parsed.success) canonical.set(row.id, parsed.output)
    else invalid.push(row)
  }

  // Each row's fate by its email: undefined while the flag that decides it is not chosen.
  const email = new Map<number, { carried: false } | { carried: true; email: string; deactivate: boolean }>()
  const outcomes = new Map<number, string | null>()
  for (const row of rows) {
    const value = canonical.get(row.id)
    if (value !== undefined) email.set(row.id, { carried: true, email: value, deactivate: false })
  }
  const emailGroups = groupsOf(
    rows.filter((row) => canonical.has(row.id)),
    (row) => canonical.get(row.id) ?? null,
  )
  for (const { others } of emailGroups) {
    for (const row of others) {
      if (decisions.emailCollisions === 'merge') {
        email.set(row.id, { carried: false })
        outcomes.set(row.id, `not carried: stays in ${LEGACY_TABLE}`)
      } else if (decisions.emailCollisions === 'deactivate') {
        const placeholder = `duplicate-${row.id}@${PLACEHOLDER_DOMAIN}`
        email.set(row.id, { carried: true, email: placeholder, deactivate: true })
        outcomes.set(row.id, `carried inactive as ${placeholder}`)
      } else {
        email.delete(row.id)
        outcomes.set(row.id, null)
      }
    }
  }
  const invalidOutcomes = new Map<number, string | null>()
  for (const row of invalid) {
    if (decisions.invalidEmails === 'deactivate') {
      const placeholder = `invalid-${row.id}@${PLACEHOLDER_DOMAIN}`
      email.set(row.id, { carried: true, email: placeholder, deactivate: true })
      invalidOutcomes.set(row.id, `carried inactive as ${placeholder}`)
    } else invalidOutcomes.set(row.id, null)
  }

  // Usernames compete only among the rows that will be carried (all of them while emailCollisions is not chosen), and
  // a row the cutover deactivates counts as inactive: the name goes to an account that can use it.
  const candidates = rows
    .filter((row) => email.get(row.id)?.carried !== false)
    .map((row) => {
      const fate = email.get(row.id)
      return fate?.carried && fate.deactivate ? { ...row, active: false } : row
    })
  const fits = (row: LegacyRow) => row.username !== null && row.usernameLength <= USERNAME_MAX_LENGTH
  const tooLong = candidates.filter((row) => row.username !== null && !fits(row))
  const usernameGroups = groupsOf(candidates.filter(fits), (row) => row.usernameKey)
  const changing = new Set(
    [...tooLong, ...usernameGroups.flatMap((group) => group.others)].map((row) => row.id),
  )
  const taken = new Set(
    candidates.filter((row) => fits(row) && !changing.has(row.id)).map((row) => row.usernameKey ?? ''),
  )
  const usernames = new Map<number, string | null>(candidates.map((row) => [row.id, row.username]))
  const usernameOutcomes = new Map<number, string | null>()
  for (const row of candidates.filter((candidate) => changing.has(candidate.id))) {
    if (decisions.usernameCollisions === 'rename') {
      const name = renamed(row.username ?? '', row.id, taken)
      usernames.set(row.id, name)
      usernameOutcomes.set(row.id, `renamed ${name}`)
    } else if (decisions.usernameCollisions === 'clear') {
      usernames.set(row.id, null)
      usernameOutcomes.set(row.id, 'username cleared')
    } else usernameOutcomes.set(row.id, null)
  }

  const undecided: string[] = []
  if (!decisions.emailCollisions && emailGroups.length > 0)
    undecided.push(undecidedMessage('emailCollisions', emailGroups.length))
  if (!decisions.usernameCollisions && changing.size > 0)
    undecided.push(undecidedMessage('usernameCollisions', changing.size))
  if (!decisions.invalidEmails && invalid.length > 0)
    undecided.push(undecidedMessage('invalidEmails', invalid.length))

  const carry: CarriedRow[] = []
  const notCarried: number[] = []
  for (const row of rows) {
    const fate = email.get(row.id)
    if (fate?.carried === false) notCarried.push(row.id)
    else if (fate && !undecided.length) {
      carry.push({
        id: row.id,
        email: fate.email,
        username: usernames.get(row.id) ?? null,
        deactivate: fate.deactivate,
      })
    }
  }
  assertUnique(carry, (row) => row.email, 'email')
  assertUnique(carry, (row) => row.username?.toLowerCase() ?? null, 'username')

  const outcome = (row: LegacyRow, from: Map<number, string | null>): RowOutcome => ({
    ...summary(row),
    outcome: from.get(row.id) ?? null,
  })
  return {
    report: {
      keeperRule: KEEPER_RULE,
      legacyRows: rows.length,
      emailCollisions: {
        ...decisionReport('emailCollisions', decisions.emailCollisions),
        groups: emailGroups.map(({ value, keep, others }) => ({
          value,
          keep: summary(keep),
          others: others.map((row) => outcome(row, outcomes)),
        })),
      },
      usernameCollisions: {
        ...decisionReport('usernameCollisions', decisions.usernameCollisions),
        groups: usernameGroups.map(({ value, keep, others }) => ({
          value,
          keep: summary(keep),
          others: others.map((row) => outcome(row, usernameOutcomes)),
        })),
        tooLong: tooLong.map((row) => outcome(row, usernameOutcomes)),
      },
      invalidEmails: {
        ...decisionReport('invalidEmails', decisions.invalidEmails),
        rows: invalid.map((row) => outcome(row, invalidOutcomes)),
      },
      conversion: {
        carried: undecided.length ? rows.length - notCarried.length : carry.length,
        notCarried,
        deactivated: carry.filter((row) => row.deactivate).map((row) => row.id),
        emailsCanonicalized: rows.filter((row) => {
          const fate = email.get(row.id)
          return fate?.carried === true && fate.email === canonical.get(row.id) && fate.email !== row.email
        }).length,
        nullFlagsCarriedAsFalse: rows
          .filter((row) => row.nullFlags && email.get(row.id)?.carried !== false)
          .map((row) => row.id),
        hashesNotBcrypt: rows
          .filter((row) => !row.bcrypt && email.get(row.id)?.carried !== false)
          .map((row) => row.id),
        timestamps:
          'created_at and updated_at without a time zone are read as UTC (the old code wrote datetime.utcnow()) and stored with one; a column with a time zone is kept as it is',
        passwords:
          "hashes are copied as they are and marked password_carried_over: passlib's bcrypt read only a password's first 72 bytes, so such an account logs in with what it types, its first 72 bytes checked, until it sets a new password",
      },
      undecided,
    },
    carry,
  }
}

/** Two carried rows that would end up with the same email or username: refused rather than failed mid-copy. */
function assertUnique(rows: CarriedRow[], keyOf: (row: CarriedRow) => string | null, what: string) {
  const seen = new Map<string, number>()
  for (const row of rows) {
    const key = keyOf(row)
    if (key === null) continue
    const other = seen.get(key)
    if (other !== undefined)
      throw refused(
        `rows ${other} and ${row.id} would both have the ${what} ${key}; change one in the old table first`,
      )
    seen.set(key, row.id)
  }
}

type Executor = Pick<NeonDatabase, 'execute'>

interface LegacyTable {
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
async function inspect(db: Executor): Promise<LegacyTable> {
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

async function readLegacyRows(db: Executor, table: LegacyTable): Promise<LegacyRow[]> {
  const result = await db.execute<{
    id: number | string
    email: string
    username: string | null
    username_key: string | null
    username_length: number | null
    active: boolean
    null_flags: boolean
    updated_at: string
    bcrypt: boolean
  }>(sql`
    select l.id, l.email, l.username, lower(l.username) as username_key,
      char_length(l.username) as username_length, coalesce(l.is_active, false) as active,
      (l.is_active is null or l.is_superuser is null) as null_flags,
      coalesce(to_char(coalesce(${table.updatedAt}, ${table.createdAt}) at time zone 'UTC',
        'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), '') as updated_at,
      coalesce(l.hashed_password ~ '^[$]2[abxy]?[$][0-9]{2}[$][./A-Za-z0-9]{53}$', false) as bcrypt
    from public.users l order by l.id`)
  return result.rows.map((row) => ({
    id: Number(row.id),
    email: row.email,
    username: row.username,
    usernameKey: row.username_key,
    usernameLength: row.username_length ?? 0,
    active: row.active,
    updatedAt: row.updated_at,
    nullFlags: row.null_flags,
    bcrypt: row.bcrypt,
  }))
}

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
  const table = await step('reading the database', () => inspect(db))
  const rows = await step('reading the users', () => readLegacyRows(db, table))
  return { outcome: 'dry run', ...planCutover(rows, request).report }
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
  await step('reading the database', () => inspect(db))
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
  const table = await step('reading the database', () => inspect(db))
  const rows = await step('reading the users', () => readLegacyRows(db, table))
  const { report, carry } = planCutover(rows, options.request)
  if (report.undecided.length > 0)
    throw refused(`a conflict has no chosen flag, nothing was changed: ${report.undecided.join('; ')}`)

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

  await step('copying the users', async () => {
    for (let start = 0; start < carry.length; start += COPY_BATCH_ROWS) {
      const batch = JSON.stringify(carry.slice(start, start + COPY_BATCH_ROWS))
      await db.execute(sql`
        insert into public.users (id, email, username, hashed_password, is_active, is_superuser, created_at,
          updated_at, password_carried_over)
        select l.id, p.email, p.username, l.hashed_password, coalesce(l.is_active, false) and not p.deactivate,
          coalesce(l.is_superuser, false), coalesce(${table.createdAt}, ${table.updatedAt}, now()),
          coalesce(${table.updatedAt}, ${table.createdAt}, now()), true
        from jsonb_to_recordset(${batch}::jsonb) as p(id integer, email text, username text, deactivate boolean)
        join public.${sql.identifier(LEGACY_TABLE)} l on l.id = p.id`)
    }
    const copied = await db.execute<{ count: number }>(sql`select count(*)::int as count from public.users`)
    if (copied.rows[0]?.count !== carry.length)
      throw new CutoverError(
        `cutover failed: ${copied.rows[0]?.count ?? 0} rows were copied where ${carry.length} were planned; nothing was changed`,
      )
  })

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
      dropLater: `once nothing needs the old rows: drop table ${LEGACY_TABLE} (its sequence goes with it) and alembic_version`,
    },
  }
}
