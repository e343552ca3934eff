import { sql } from 'drizzle-orm'
import { EmailTakenError, UsernameTakenError } from '#shared/domain/errors'
import type { RegistrationPolicy, UserRepository } from '#shared/domain/ports'
import type { NewUser, UserRecord } from '#shared/domain/users'
import type { Database } from '../client.ts'
import { rethrowUnavailable, sqlState, violatedConstraint } from '../errors.ts'
import { rateLimits, users } from '../schema.ts'
import { eventInsert, seconds, toUserRecord, type UserRow, userColumns } from './rows.ts'

type RegisterRow = Partial<UserRow> & {
  email_taken: boolean
  username_taken: boolean
}

/** How many registration ids an address's row remembers, so that a retried reservation is not counted twice. */
const REMEMBERED_REGISTRATIONS = 32

/**
 * The username's unique index is the one conflict an insert cannot name beside the email's: its violation is a taken
 * username; any other (the primary key, a sequence behind the ids) is a fault, never a wrong 400.
 */
function usernameTakenOrUnavailable(error: unknown): never {
  if (sqlState(error) === '23505' && violatedConstraint(error) === USERNAME_INDEX)
    throw new UsernameTakenError({ cause: error })
  return rethrowUnavailable(error)
}

const USERNAME_INDEX = 'users_username_lower_key'

export function createUserRepository(
  db: Database,
  // Unlimited unless given (seed-admin registers no one); the count is a Postgres integer.
  policy: RegistrationPolicy = { maxPerWindow: 2_147_483_647, windowSeconds: 3600 },
) {
  const r = rateLimits
  const window = seconds(policy.windowSeconds)
  /**
   * The account this very request stored, found again by its bcrypt hash (salted, so no other request has it): a
   * statement retried after its answer was lost finds it here, and answers as if it had been the first.
   */
  const ours = (user: NewUser) =>
    sql`select ${userColumns('users')} from ${users} where email = ${user.email} and hashed_password = ${user.hashedPassword}`

  /** Who holds the email or username after a race the statement's snapshot missed: us (a retry) or another. */
  async function afterConflict(user: NewUser): Promise<UserRecord> {
    const result = await db
      .execute<UserRow>(sql`select ${userColumns('users')} from ${users} where email = ${user.email}`)
      .catch(rethrowUnavailable)
    const row = result.rows[0]
    if (row?.hashedPassword === user.hashedPassword) return toUserRecord(row)
    throw row ? new EmailTakenError() : new UsernameTakenError()
  }

  return {
    async reserveRegistration(id, context) {
      const key = `register:${context.sourceIp}`
      const seen = sql`${id}::uuid = any(r.recent_hits)`
      const expired = sql`r.window_started_at <= now() - ${window}`
      // Counted whatever follows (the hash, then an insert that may find the email or username taken), and past the
      // limit too, so the refusal's Retry-After is the window's. A retried statement finds its id and counts nothing.
      const result = await db
        .execute<{ hits: number; retry_after: number }>(sql`
          insert into ${r} as r (key, hits, window_started_at, recent_hits)
          values (${key}, 1, now(), array[${id}::uuid])
          on conflict (key) do update set
            hits = case when ${seen} then r.hits when ${expired} then 1 else r.hits + 1 end,
            window_started_at = case when not ${seen} and ${expired} then now() else r.window_started_at end,
            recent_hits = case when ${seen} then r.recent_hits
              else (array_append(r.recent_hits, ${id}::uuid))[greatest(1, cardinality(r.recent_hits) + 2 - ${REMEMBERED_REGISTRATIONS}):] end
          returning hits, ceil(extract(epoch from window_started_at + ${window} - now()))::int as retry_after`)
        .catch(rethrowUnavailable)
      const row = result.rows[0]
      if (!row) throw new Error('the registration was not counted')
      return { refusedForSeconds: row.hits > policy.maxPerWindow ? Math.max(1, row.retry_after) : null }
    },

    async register(user, context) {
      // The checks below read the statement's snapshot, which sees every account committed before it began; a
      // registration that commits meanwhile is caught by ON CONFLICT and resolved by afterConflict. The address's
      // count was taken before the hash (reserveRegistration), apart: a taken username, whose unique violation
      // aborts this statement, does not undo it.
      const result = await db
        .execute<RegisterRow>(sql`
          with already as (${ours(user)}), created as (
            insert into ${users} (email, username, hashed_password)
            select ${user.email}, ${user.username}, ${user.hashedPassword} where not exists (select 1 from already)
            on conflict (email) do nothing
            returning ${userColumns('users')}
          ), register_event as (
            ${eventInsert('register', context, { userId: sql`created.id`, email: sql`created.email`, from: sql`from created` })}
          )
          select account.*,
            exists (select 1 from ${users} where email = ${user.email}) as email_taken,
            exists (select 1 from ${users} where lower(username) = lower(${user.username}::varchar)) as username_taken
          from (select 1) one
          left join (select * from created union all select * from already) account on true`)
        .catch(usernameTakenOrUnavailable)
      const row = result.rows[0]
      if (!row) throw new Error('register returned no row')
      if (row.id != null) return toUserRecord(row as UserRow)
      if (row.email_taken) throw new EmailTakenError()
      if (row.username_taken) throw new UsernameTakenError()
      return afterConflict(user)
    },

    async insertSuperuser(user, context) {
      const holder = sql`select ${userColumns('users')}, hashed_password = ${user.hashedPassword} as created
        from ${users} where email = ${user.email}`
      const result = await db
        .execute<UserRow & { created: boolean }>(sql`
          with created as (
            insert into ${users} (email, username, hashed_password, is_superuser)
            values (${user.email}, ${user.username}, ${user.hashedPassword}, true)
            on conflict (email) do nothing
            returning ${userColumns('users')}
          ), seeded_event as (
            ${eventInsert('admin_seeded', context, { userId: sql`created.id`, email: sql`created.email`, from: sql`from created` })}
          )
          select *, true as created from created
          union all (${holder} and not exists (select 1 from created))`)
        .catch(rethrowUnavailable)
      // No row: the email was taken by a statement that committed after this one's snapshot; read it again.
      const row = result.rows[0] ?? (await db.execute<UserRow & { created: boolean }>(holder)).rows[0]
      if (!row) throw new Error('the admin account could be neither created nor found')
      return { user: toUserRecord(row), created: row.created }
    },
  } satisfies UserRepository
}
