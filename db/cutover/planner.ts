/**
 * The cutover's decisions, with no database: given the old table's rows (as the inspection reads them) and the
 * operator's choices, it groups the conflicts, names the row each group keeps and what becomes of the others, and
 * lists the rows to copy (as the transaction writes them) once nothing is left undecided.
 */
import * as v from 'valibot'
import { EmailSchema } from '#shared/domain/schemas'
import {
  CUTOVER_DECISIONS,
  type CutoverDecision,
  type CutoverRequest,
  LEGACY_TABLE,
  PLACEHOLDER_DOMAIN,
  refused,
  USERNAME_MAX_LENGTH,
} from './request.ts'

const KEEPER_RULE =
  'in each group one row keeps its value: the active one first (for usernames, active as carried), then the most recently updated, then the lowest id'

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
