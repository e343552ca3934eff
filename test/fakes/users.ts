import { EmailTakenError, UsernameTakenError } from '#shared/domain/errors'
import type { RegistrationPolicy, UserRepository } from '#shared/domain/ports'
import type { NewUser, UserRecord } from '#shared/domain/users'
import { userRecord as storedUser } from '#test/helpers/records'
import { audit, countHit, type MemoryState, plusSeconds, secondsUntil, userRecord } from './state.ts'

/** `users_username_lower_key`: usernames are unique whatever their case; no username never conflicts. */
const usernameHolder = (state: MemoryState, username: string | null) =>
  username === null
    ? undefined
    : state.users.find((user) => user.username?.toLowerCase() === username.toLowerCase())

/** How many registration ids an address's row remembers (`rate_limits.recent_hits`). */
const REMEMBERED_REGISTRATIONS = 32

/** Inserts an account as the table's defaults fill it. */
function insertUser(state: MemoryState, user: NewUser, isSuperuser: boolean, now: Date): UserRecord {
  const row = storedUser({
    id: Math.max(0, ...state.users.map((existing) => existing.id)) + 1,
    email: user.email,
    username: user.username,
    hashedPassword: user.hashedPassword,
    isSuperuser,
    createdAt: now,
  })
  state.users.push(row)
  return row
}

/** `db/repositories/users.ts` in memory. */
export function createMemoryUserRepository(
  state: MemoryState,
  policy: RegistrationPolicy = { maxPerWindow: 2_147_483_647, windowSeconds: 3600 },
) {
  return {
    async reserveRegistration(id, context) {
      const now = state.clock.now()
      const key = `register:${context.sourceIp}`
      const before = state.rateLimits.get(key)
      const remembered = before?.recentHits ?? []
      // A retried statement finds its id among the row's recent hits and counts nothing.
      const counted =
        remembered.includes(id) && before ? before : countHit(state, key, policy.windowSeconds, now)
      if (counted !== before) counted.recentHits = [...remembered, id].slice(-REMEMBERED_REGISTRATIONS)
      if (counted.hits <= policy.maxPerWindow) return { refusedForSeconds: null }
      const ends = plusSeconds(counted.windowStartedAt, policy.windowSeconds)
      return { refusedForSeconds: Math.max(1, secondsUntil(ends, now)) }
    },

    async register(user, context) {
      const now = state.clock.now()
      // The retry of a registration that was stored (its bcrypt hash is salted, so only this request has it).
      const ours = state.users.find(
        (row) => row.email === user.email && row.hashedPassword === user.hashedPassword,
      )
      if (ours) return userRecord(ours)
      if (state.users.some((row) => row.email === user.email)) throw new EmailTakenError()
      if (usernameHolder(state, user.username)) throw new UsernameTakenError()
      const row = insertUser(state, user, false, now)
      audit(state, now, 'register', context, { userId: row.id, email: row.email })
      return userRecord(row)
    },

    async insertSuperuser(user, context) {
      const now = state.clock.now()
      const holder = state.users.find((row) => row.email === user.email)
      if (holder) return { user: userRecord(holder), created: holder.hashedPassword === user.hashedPassword }
      if (usernameHolder(state, user.username)) {
        // Not a registration: the driver's unique violation goes through as it is.
        throw new Error('duplicate key value violates unique constraint "users_username_lower_key"')
      }
      const row = insertUser(state, user, true, now)
      audit(state, now, 'admin_seeded', context, { userId: row.id, email: row.email })
      return { user: userRecord(row), created: true }
    },
  } satisfies UserRepository
}
