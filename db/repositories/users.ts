import { eq, sql } from 'drizzle-orm'
import { EmailTakenError, RegistrationLimitError, UsernameTakenError } from '#shared/domain/errors'
import type { NewUser, RequestContext } from '#shared/domain/users'
import type { Database } from '../client.ts'
import { rethrowUnavailable } from '../errors.ts'
import { rateLimits, type UserRow, users } from '../schema.ts'
import { eventInsert, type RawUserRow, toUserRecord } from './rows.ts'

export interface RegistrationPolicy {
  /** Registrations one source IP may attempt per window. */
  maxPerWindow: number
  windowSeconds: number
}

export interface UserRepository {
  findById(id: number): Promise<UserRow | null>
  /**
   * Counts the attempt against the source IP's limit, inserts the user unless the email or username is taken, and
   * audits it, in one statement. Throws `EmailTakenError`, `UsernameTakenError` or `RegistrationLimitError`.
   */
  register(user: NewUser, context: RequestContext): Promise<UserRow>
  /** Inserts unless the email exists, auditing the creation; `null` when it existed. One statement. */
  insertUnlessEmailExists(user: NewUser, context: RequestContext): Promise<UserRow | null>
}

type RegisterRow = Partial<RawUserRow> & {
  hits: number
  retry_after: number
  email_taken: boolean
  username_taken: boolean
}

export function createUserRepository(
  db: Database,
  policy: RegistrationPolicy = { maxPerWindow: Number.MAX_SAFE_INTEGER, windowSeconds: 3600 },
): UserRepository {
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
      const [row] = await db.select().from(users).where(eq(users.id, id)).catch(rethrowUnavailable)
      return row ?? null
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
  }
}
