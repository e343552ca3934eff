import * as v from 'valibot'
import type { ScopedPrincipalPort, UserPreferencesRepository } from './ports.ts'

/** A name as a student types it: trimmed, printable, 1 to `max` characters. */
const name = (max: number) =>
  v.pipe(
    v.string(),
    v.trim(),
    v.minLength(1, 'Should not be empty'),
    v.maxLength(max, `Should be at most ${max} characters`),
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what it refuses
    v.regex(/^[^\x00-\x1f\x7f-\x9f]+$/, 'Should hold no control characters'),
  )

/** At most this many subjects: a student's timetable, with room to spare. */
export const MAX_SUBJECTS = 30

/** `PUT /users/me/preferences`: the whole of them, as `GET` answers them (a field left out is refused, not kept). */
export const PreferencesBodySchema = v.object({
  exam_board: v.pipe(
    v.nullable(name(40)),
    v.description('The exam board the student sits, e.g. `WAEC`; null for none chosen.'),
  ),
  subjects: v.pipe(
    v.array(name(60)),
    v.maxLength(MAX_SUBJECTS, `Should hold at most ${MAX_SUBJECTS} subjects`),
    v.check(
      (subjects) => new Set(subjects.map((subject) => subject.toLowerCase())).size === subjects.length,
      'Should not repeat a subject',
    ),
    v.description(
      `The subjects the student follows, in the student's order; at most ${MAX_SUBJECTS}, each once.`,
    ),
  ),
})
export type PreferencesBody = v.InferOutput<typeof PreferencesBodySchema>

/** The preferences as `GET` and `PUT` answer them. */
export const PreferencesSchema = v.object({
  exam_board: v.nullable(v.string()),
  subjects: v.array(v.string()),
  updated_at: v.pipe(
    v.nullable(v.pipe(v.string(), v.isoTimestamp())),
    v.description('When they were last saved; null while never saved (the defaults).'),
  ),
})
export type Preferences = v.InferOutput<typeof PreferencesSchema>

/** What a student who never saved any has. */
export const DEFAULT_PREFERENCES: Preferences = { exam_board: null, subjects: [], updated_at: null }

export type PreferencesService = ReturnType<typeof createPreferencesService>

/**
 * A student's study preferences, kept in a user-owned table reached only as the user (row-level security): the
 * repository never names a user id; the database takes it from the caller's claims.
 */
export function createPreferencesService({ preferences }: { preferences: UserPreferencesRepository }) {
  return {
    async get(principal: ScopedPrincipalPort): Promise<Preferences> {
      return (await preferences.read(principal)) ?? DEFAULT_PREFERENCES
    },
    put: (principal: ScopedPrincipalPort, body: PreferencesBody): Promise<Preferences> =>
      preferences.write(principal, body),
  }
}
