/**
 * What the operator may ask of the cutover (the dry run or the apply, a choice for each kind of conflict, and what
 * becomes of other objects that reference users), the names its answers use, and how it refuses. No database: the
 * planner, the inspection and the transaction all speak it.
 */
import * as v from 'valibot'

/** Where the old table goes, and the prefix of everything of it whose name ours would take. */
export const LEGACY_TABLE = 'legacy_users'
export const LEGACY_PREFIX = 'legacy_'
export const USERNAME_MAX_LENGTH = 50
/** A reserved top-level domain (RFC 2606): a placeholder address can never reach anyone. */
export const PLACEHOLDER_DOMAIN = 'carried.invalid'
/**
 * The report's lists show at most this many entries (groups in order of value, rows in order of id), each beside its
 * whole count: the report is the function's answer (at most 6 MB) and is held in memory, whatever the table's size.
 */
export const REPORT_LIST_LIMIT = 100
/** And at most this many of a group's other rows, in keeper order. */
export const GROUP_OTHERS_LIMIT = 10

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
  inbound: {
    flag: '--inbound',
    what: 'foreign key(s) and view(s) of other tables that reference users',
    choices: {
      refuse: `the default: the apply refuses, naming them (renamed, the old table would take them along to ${LEGACY_TABLE})`,
      repoint:
        'each foreign key is dropped and added again on the new users table (NOT VALID, then validated), each view recreated over it from its definition, in the same transaction',
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
    inbound: choice<ChoicesOf<'inbound'>>(['refuse', 'repoint']),
  },
  'the cutover takes only apply, emailCollisions, usernameCollisions, invalidEmails and inbound',
)
export type CutoverRequest = v.InferOutput<typeof CutoverRequestSchema>

/** A cutover that will not run, or did not: the message is written for the operator (no SQL, no hash). */
export class CutoverError extends Error {
  override readonly name = 'CutoverError'
}

/** A refusal: the cutover changed nothing, and the reason says why. */
export const refused = (reason: string) => new CutoverError(`cutover refused: ${reason}`)

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
