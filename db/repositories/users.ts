import { eq } from 'drizzle-orm'
import { EmailTakenError, UsernameTakenError } from '#shared/errors'
import type { NewUser } from '#shared/users'
import type { Database } from '../client.ts'
import { rethrowUnavailable, uniqueViolation } from '../errors.ts'
import { type NewUserRow, type UserRow, users } from '../schema.ts'

export interface UserRepository {
  findById(id: number): Promise<UserRow | null>
  /** `email` must already be canonical (see `EmailSchema`). */
  findByEmail(email: string): Promise<UserRow | null>
  /** One statement; a taken email or username becomes `EmailTakenError` / `UsernameTakenError`. */
  insert(user: NewUser): Promise<UserRow>
  /** Inserts unless the email exists; `null` when it did. One statement, safe under concurrency. */
  insertUnlessEmailExists(user: NewUser): Promise<UserRow | null>
}

const CONSTRAINT_ERRORS: Record<string, new (options: { cause: unknown }) => Error> = {
  users_email_key: EmailTakenError,
  users_username_lower_key: UsernameTakenError,
}

export function createUserRepository(db: Database): UserRepository {
  const values = (user: NewUser): NewUserRow => ({
    email: user.email,
    username: user.username,
    hashedPassword: user.hashedPassword,
    isSuperuser: user.isSuperuser ?? false,
  })

  return {
    async findById(id) {
      const [row] = await db.select().from(users).where(eq(users.id, id)).catch(rethrowUnavailable)
      return row ?? null
    },

    async findByEmail(email) {
      const [row] = await db.select().from(users).where(eq(users.email, email)).catch(rethrowUnavailable)
      return row ?? null
    },

    async insert(user) {
      try {
        const [row] = await db.insert(users).values(values(user)).returning()
        if (!row) throw new Error('insert returned no row')
        return row
      } catch (error) {
        const constraint = uniqueViolation(error)
        const DomainError = constraint === undefined ? undefined : CONSTRAINT_ERRORS[constraint]
        if (DomainError) throw new DomainError({ cause: error })
        return rethrowUnavailable(error)
      }
    },

    async insertUnlessEmailExists(user) {
      const [row] = await db
        .insert(users)
        .values(values(user))
        .onConflictDoNothing({ target: users.email })
        .returning()
        .catch(rethrowUnavailable)
      return row ?? null
    },
  }
}
