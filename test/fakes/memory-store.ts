import type {
  LoginPolicy,
  PasswordResetPolicy,
  RegistrationPolicy,
  SessionPolicy,
} from '#shared/domain/ports'
import type { Clock } from '#shared/domain/tokens'
import type { UserRecord } from '#shared/domain/users'
import { INTEGER_SETTINGS } from '#shared/platform/settings'
import { userRecord as storedUser } from '#test/helpers/records'
import { createMemoryLoginRepository } from './logins.ts'
import { createMemoryMailJobRepository } from './mail-jobs.ts'
import { createMemoryPasswordResetRepository } from './password-resets.ts'
import { createMemorySessionRepository } from './sessions.ts'
import { createMemoryState, type MailOutboxRow, type MemoryState, plusSeconds, voidLinks } from './state.ts'
import { createMemoryUserRepository } from './users.ts'

export type { MemoryState } from './state.ts'
export { tickingClock } from './state.ts'

/** The policies the repositories are built with, as the composition root builds them. */
export interface StorePolicies {
  login: LoginPolicy
  registration: RegistrationPolicy
  session: SessionPolicy
  reset: PasswordResetPolicy
}

export interface MemoryStoreOptions {
  /** The server's clock (default: the system's, never the same instant twice); ignored with `state`. */
  clock?: Clock
  login?: Partial<LoginPolicy>
  registration?: Partial<RegistrationPolicy>
  session?: Partial<SessionPolicy>
  reset?: Partial<PasswordResetPolicy>
  /** Another store's tables: the same storage through repositories built with other policies. */
  state?: MemoryState
}

const setting = (name: keyof typeof INTEGER_SETTINGS) => INTEGER_SETTINGS[name].default

/** The deployed defaults (`shared/platform/settings.ts`), so a unit test states only the policy it is about. */
export const DEFAULT_POLICIES: StorePolicies = {
  login: {
    maxFailures: setting('LOGIN_MAX_FAILURES'),
    windowSeconds: setting('LOGIN_WINDOW_SECONDS'),
    ipMaxFailures: setting('LOGIN_IP_MAX_FAILURES'),
    ipWindowSeconds: setting('LOGIN_IP_WINDOW_SECONDS'),
  },
  registration: {
    maxPerWindow: setting('REGISTER_RATE_LIMIT'),
    windowSeconds: setting('REGISTER_RATE_WINDOW_SECONDS'),
  },
  session: {
    maxAgeSeconds: setting('SESSION_MAX_AGE_SECONDS'),
    reuseIntervalSeconds: setting('REFRESH_TOKEN_REUSE_INTERVAL_SECONDS'),
    maxPerUser: setting('MAX_SESSIONS_PER_USER'),
  },
  reset: {
    emailLimit: setting('PASSWORD_RESET_EMAIL_LIMIT'),
    ipLimit: setting('PASSWORD_RESET_IP_LIMIT'),
    windowSeconds: setting('PASSWORD_RESET_WINDOW_SECONDS'),
    tokenTtlSeconds: setting('PASSWORD_RESET_TTL_SECONDS'),
  },
}

export type MemoryStore = ReturnType<typeof createMemoryStore>

/**
 * Every storage port over one in-memory state, with the rules of the PostgreSQL repositories (the contract suites of
 * `test/contracts` hold both to the same cases): a registered user logs in, a login's session is rotated, a reset
 * voids the sessions. The `add…` helpers arrange rows directly, as a test's SQL would.
 */
export function createMemoryStore(options: MemoryStoreOptions = {}) {
  const state = options.state ?? createMemoryState(options.clock)
  const policies: StorePolicies = {
    login: { ...DEFAULT_POLICIES.login, ...options.login },
    registration: { ...DEFAULT_POLICIES.registration, ...options.registration },
    session: { ...DEFAULT_POLICIES.session, ...options.session },
    reset: { ...DEFAULT_POLICIES.reset, ...options.reset },
  }
  const now = () => state.clock.now()

  return {
    state,
    policies,
    users: createMemoryUserRepository(state, policies.registration),
    logins: createMemoryLoginRepository(state, policies.login, policies.session),
    sessions: createMemorySessionRepository(state, policies.session),
    resets: createMemoryPasswordResetRepository(state, policies.reset),
    mailJobs: createMemoryMailJobRepository(state),

    /** Stores an account as given (the table's defaults for the rest) and returns its row. */
    addUser(fields: Partial<UserRecord> & Pick<UserRecord, 'email'>): UserRecord {
      const at = now()
      const row: UserRecord = storedUser({
        id: Math.max(0, ...state.users.map((user) => user.id)) + 1,
        hashedPassword: 'not a bcrypt hash',
        createdAt: at,
        ...fields,
      })
      if (state.users.some((user) => user.id === row.id || user.email === row.email))
        throw new Error(`an account with id ${row.id} or email ${row.email} exists`)
      state.users.push(row)
      return row
    },

    /** Deactivates an account, as an operator's update of its row would. */
    deactivate(userId: number): void {
      const user = state.users.find((row) => row.id === userId)
      if (!user) return
      // As the users_deactivation_voids trigger (migration 0012): the credential ends, the links are void.
      if (user.isActive) {
        user.credentialVersion += 1
        voidLinks(state, user, now())
      }
      user.isActive = false
      user.updatedAt = now()
    },

    /** Stores a mail job of an existing account. */
    addMailJob(fields: Partial<MailOutboxRow> & Pick<MailOutboxRow, 'id' | 'userId'>): MailOutboxRow {
      const row: MailOutboxRow = {
        kind: 'password_reset',
        createdAt: now(),
        attempts: 0,
        claimedUntil: null,
        claimedBy: null,
        settledAt: null,
        outcome: null,
        ...fields,
      }
      state.mailOutbox.set(row.id, row)
      return row
    },

    /** Stores the user's live reset link (replacing theirs), valid for the reset policy's lifetime. */
    addResetLink(userId: number, tokenHash: string): void {
      const requestedAt = now()
      state.passwordResetTokens.set(userId, {
        tokenHash,
        jobId: `link-${state.passwordResetTokens.size + 1}`,
        requestedAt,
        expiresAt: plusSeconds(requestedAt, policies.reset.tokenTtlSeconds),
      })
    },
  }
}
