import { eq, sql } from 'drizzle-orm'
import { EmailTakenError, RegistrationLimitError, UsernameTakenError } from '#shared/domain/errors'
import type { RegistrationPolicy, UserRepository } from '#shared/domain/ports'
import type { NewUser } from '#shared/domain/users'
import type { Database } from '../client.ts'
import { rethrowUnavailable } from '../errors.ts'
import { rateLimits, users } from '../schema.ts'
import { eventInsert, type RawUserRow, toUserRecord } from './rows.ts'

type RegisterRow = Partial<RawUserRow> & {
  hits: number
  retry_after: number
  email_taken: boolean
  username_taken: boolean
}

export function createUserRepository(
  db: Database,
  policy: RegistrationPolicy = { maxPerWindow: Number.MAX_SAFE_INTEGER, windowSeconds: 3600 },
) {
  const r = rateLimits
  const window = sql`make_interval(secs => ${policy.windowSeconds})`

  /** Which unique value a conflicting registration collided with, after a race the statement's snapshot missed. */
  async function conflictOf(user: NewUser): Promise<Error> {
    const [row] = await db
      .select({ email: users.email })
      .from(users)
      .where(eq(users.email, user.email))
      .catch(rethrowUnavailable)
    return row ? new EmailTakenError() : new UsernameTakenError()
  }

  return {
    async findById(id) {
      const result = await db
        .execute<RawUserRow>(sql`select * from ${users} where ${users.id} = ${id}`)
        .catch(rethrowUnavailable)
      const row = result.rows[0]
      return row ? toUserRecord(row) : null
    },

    async register(user, context) {
      const key = `register:${context.sourceIp}`
      const expired = sql`${r}.window_started_at <= now() - ${window}`
      // The checks below read the statement's snapshot, which sees every account committed before it began; a
      // registration that commits meanwhile is caught by ON CONFLICT and resolved by conflictOf.
      const result = await db
        .execute<RegisterRow>(sql`
          with limited as (
            insert into ${r} (key, hits, window_started_at) values (${key}, 1, now())
            on conflict (key) do update set
              hits = case when ${expired} then 1 else ${r}.hits + 1 end,
              window_started_at = case when ${expired} then now() else ${r}.window_started_at end
            returning hits, ceil(extract(epoch from window_started_at + ${window} - now()))::int as retry_after
          ), created as (
            insert into ${users} (email, username, hashed_password)
            select ${user.email}, ${user.username}, ${user.hashedPassword} from limited where hits <= ${policy.maxPerWindow}
            on conflict do nothing
            returning *
          ), register_event as (
            ${eventInsert('register', context, { userId: sql`created.id`, email: sql`created.email`, from: sql`from created` })}
          )
          select created.*, limited.hits, limited.retry_after,
            exists (select 1 from ${users} where email = ${user.email}) as email_taken,
            exists (select 1 from ${users} where lower(username) = lower(${user.username}::varchar)) as username_taken
          from limited left join created on true`)
        .catch(rethrowUnavailable)
      const row = result.rows[0]
      if (!row) throw new Error('register returned no row')
      if (row.id != null) return toUserRecord(row as RawUserRow)
      if (row.hits > policy.maxPerWindow) throw new RegistrationLimitError(Math.max(1, row.retry_after))
      if (row.email_taken) throw new EmailTakenError()
      if (row.username_taken) throw new UsernameTakenError()
      throw await conflictOf(user)
    },

    async insertUnlessEmailExists(user, context) {
      const result = await db
        .execute<RawUserRow>(sql`
          with created as (
            insert into ${users} (email, username, hashed_password, is_superuser)
            values (${user.email}, ${user.username}, ${user.hashedPassword}, ${user.isSuperuser ?? false})
            on conflict (email) do nothing
            returning *
          ), seeded_event as (
            ${eventInsert('admin_seeded', context, { userId: sql`created.id`, email: sql`created.email`, from: sql`from created` })}
          )
          select * from created`)
        .catch(rethrowUnavailable)
      const row = result.rows[0]
      return row ? toUserRecord(row) : null
    },
  } satisfies UserRepository
}
