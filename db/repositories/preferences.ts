import { sql } from 'drizzle-orm'
import { InvalidTokenError } from '#shared/domain/errors'
import type { UserPreferencesRepository } from '#shared/domain/ports'
import type { Preferences } from '#shared/domain/preferences'
import { sqlState } from '../errors.ts'
import { userPreferences } from '../schema.ts'
import type { UserScope } from '../user-scope.ts'

interface PreferencesRow {
  exam_board: string | null
  subjects: string[]
  updated_at: string
}

const toPreferences = (row: PreferencesRow): Preferences => ({
  exam_board: row.exam_board,
  subjects: row.subjects,
  updated_at: new Date(row.updated_at).toISOString(),
})

/** PostgreSQL's foreign_key_violation: the account was erased between its authentication and this statement. */
const FOREIGN_KEY_VIOLATION = '23503'

/**
 * The study preferences, through the user scope only: every statement runs as `papa_auth_user` with the caller's
 * claims, and its user id is `papa_auth.uid()`, the database's reading of those claims, never a value of ours.
 */
export function createPreferencesRepository(scope: UserScope) {
  return {
    async read(principal) {
      const result = await scope.run<PreferencesRow>(
        principal,
        sql`select exam_board, subjects, updated_at from ${userPreferences} where user_id = papa_auth.uid()`,
      )
      const row = result.rows[0]
      return row ? toPreferences(row) : null
    },

    async write(principal, { exam_board, subjects }) {
      const result = await scope
        .run<PreferencesRow>(
          principal,
          sql`insert into ${userPreferences} as p (user_id, exam_board, subjects, updated_at)
            values (papa_auth.uid(), ${exam_board}, ${JSON.stringify(subjects)}::jsonb, now())
            on conflict (user_id) do update set exam_board = excluded.exam_board, subjects = excluded.subjects,
              updated_at = excluded.updated_at
            returning exam_board, subjects, updated_at`,
        )
        .catch((error: unknown) => {
          if (sqlState(error) === FOREIGN_KEY_VIOLATION) throw new InvalidTokenError()
          throw error
        })
      const row = result.rows[0]
      if (!row) throw new Error('the preferences upsert answered no row')
      return toPreferences(row)
    },
  } satisfies UserPreferencesRepository
}
