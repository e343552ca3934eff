import { type SQL, sql } from 'drizzle-orm'
import {
  type AnyPgColumn,
  bigserial,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  serial,
  text,
  timestamp,
  uniqueIndex,
  uuid,
  varchar,
} from 'drizzle-orm/pg-core'

/**
 * The cost of a stored hash that bcrypt compares in full (`$2a$`, `$2b$` or `$2y$`, a cost of 04 to 31, 60 characters),
 * as its two digits; null for any other string. The pattern of `costOf` in `shared/domain/passwords.ts` (held to it by
 * `test/integration/password-cost.test.ts`). Two digits order as their numbers, so `max()` of it is the highest cost.
 */
export const PASSWORD_COST_PATTERN = '^[$]2[aby][$](0[4-9]|[12][0-9]|3[01])[$][./A-Za-z0-9]{53}$'

/**
 * The expression `users_password_cost_idx` indexes, spelled once: a query finds the index only when it spells its
 * expression the same way, the pattern a literal (a parameter would not match it).
 */
export const passwordCostOf = (hash: SQL | AnyPgColumn) =>
  sql`substring(${hash}, ${sql.raw(`'${PASSWORD_COST_PATTERN}'`)})`

/**
 * The seed's `users` table, column for column, so an existing table can be carried over. Emails are stored in
 * canonical form (trimmed, lowercased) and the check constraint keeps it so; usernames are unique regardless of
 * case. `updated_at` is kept current by a trigger (migration 0001), so no code path can forget it.
 */
export const users = pgTable(
  'users',
  {
    id: serial('id').primaryKey(),
    email: varchar('email', { length: 254 }).notNull(),
    username: varchar('username', { length: 50 }),
    hashedPassword: varchar('hashed_password').notNull(),
    isActive: boolean('is_active').notNull().default(true),
    isSuperuser: boolean('is_superuser').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    /**
     * The hash came from the FastAPI backend (passlib), which let bcrypt read only the first 72 bytes of a longer
     * password: such an account logs in with what it types, its first 72 bytes checked, until it sets a new password.
     */
    passwordCarriedOver: boolean('password_carried_over').notNull().default(false),
    /**
     * Bumped by whatever ends the credential (a password change or reset; later a deactivation or deletion), never by a
     * rehash of the same password: a login starts a session only while it is still the version it checked.
     */
    credentialVersion: integer('credential_version').notNull().default(0),
    /**
     * When the account's outstanding links were last made void (a password change or reset, "end all sessions"; later
     * a deactivation or deletion): a reset link requested at or before it never sets a password, and its mail is not
     * sent. Set in the statement that does the voiding, which deletes the links it finds too.
     */
    linksRevokedAt: timestamp('links_revoked_at', { withTimezone: true, mode: 'date' }),
    /**
     * The address proved to be the user's: a code mailed to it confirmed, or a reset completed through a mailed link.
     * False for every account that existed before (and every one carried over): none loses access by it.
     */
    emailVerified: boolean('email_verified').notNull().default(false),
  },
  (table) => [
    uniqueIndex('users_email_key').on(table.email),
    uniqueIndex('users_username_lower_key').on(sql`lower(${table.username})`),
    // The admin search (`q`, the start of an email or username): LIKE 'prefix%' needs the pattern operator class.
    index('users_email_prefix_idx').using('btree', sql`${table.email} text_pattern_ops`),
    index('users_username_prefix_idx').using('btree', sql`lower(${table.username}) text_pattern_ops`),
    // The highest stored cost in one lookup: what every password check is made to cost (shared/domain/passwords.ts).
    index('users_password_cost_idx').on(passwordCostOf(table.hashedPassword)),
    check('users_email_canonical', sql`${table.email} = lower(btrim(${table.email}))`),
  ],
)

/**
 * A session: one login and every refresh token its rotations issue. Revoking the session (logout, reuse detected,
 * the user ending it) kills all of its tokens at once, whatever their state; a session also ends
 * `SESSION_MAX_AGE_SECONDS` after `created_at`, however often it is refreshed. The id is made by the service (a
 * UUID), so a login's insert is idempotent.
 */
export const sessions = pgTable(
  'sessions',
  {
    id: uuid('id').primaryKey(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    sourceIp: varchar('source_ip', { length: 45 }),
    userAgent: varchar('user_agent', { length: 512 }),
    revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'date' }),
    revokedReason: varchar('revoked_reason', { length: 40 }),
    /**
     * When the session stops mattering, so the cleanup may delete it: `now()` when it is revoked, else its live refresh
     * token's expiry (which is never past the session's lifetime). Set by the statements that start, rotate and end a
     * session; null only on rows from before the column, which the cleanup fills in (migration 0009).
     */
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }),
  },
  (table) => [
    index('sessions_user_id_idx').on(table.userId),
    index('sessions_expires_at_idx').on(table.expiresAt),
    // The rows from before the column, for the cleanup to fill in; empty once it has, and new rows never enter it.
    index('sessions_expires_at_unset_idx').on(table.id).where(sql`${table.expiresAt} is null`),
  ],
)

/**
 * Refresh tokens, stored only as SHA-256 hashes (the hash is the key: nothing to run out). A token is retired when it
 * is exchanged; presenting a retired token again revokes its session.
 */
export const refreshTokens = pgTable(
  'refresh_tokens',
  {
    tokenHash: text('token_hash').primaryKey(),
    sessionId: uuid('session_id')
      .notNull()
      .references(() => sessions.id, { onDelete: 'cascade' }),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
    retiredAt: timestamp('retired_at', { withTimezone: true, mode: 'date' }),
  },
  (table) => [
    index('refresh_tokens_session_id_idx').on(table.sessionId),
    index('refresh_tokens_expires_at_idx').on(table.expiresAt),
  ],
)

/**
 * Consecutive failed logins per canonical email, for known and unknown emails alike, so the limit holds across
 * Lambda containers. A row is deleted by a successful login; a window that has passed starts over.
 */
export const loginAttempts = pgTable(
  'login_attempts',
  {
    email: varchar('email', { length: 254 }).primaryKey(),
    /** Password checks reserved in the window (counted before the compare, so the bound holds under concurrency). */
    failures: integer('failures').notNull(),
    windowStartedAt: timestamp('window_started_at', { withTimezone: true, mode: 'date' }).notNull(),
    lockedUntil: timestamp('locked_until', { withTimezone: true, mode: 'date' }),
    /** The latest attempts' ids, so a statement retried after a lost answer does not count twice. */
    recentAttempts: uuid('recent_attempts').array().notNull().default(sql`'{}'::uuid[]`),
  },
  (table) => [index('login_attempts_window_started_at_idx').on(table.windowStartedAt)],
)

/**
 * Fixed-window counters, keyed by what is limited (`register:<source ip>`, `login-failures:<source ip>`); and
 * `logins:<user id>`, the counter a user's logins take turns on, so that each ends the sessions past the cap after
 * the one before it.
 */
export const rateLimits = pgTable(
  'rate_limits',
  {
    key: varchar('key', { length: 100 }).primaryKey(),
    hits: integer('hits').notNull(),
    windowStartedAt: timestamp('window_started_at', { withTimezone: true, mode: 'date' }).notNull(),
    /** The latest hits' ids where a hit has one (registrations), so a statement retried after a lost answer counts once. */
    recentHits: uuid('recent_hits').array().notNull().default(sql`'{}'::uuid[]`),
  },
  (table) => [index('rate_limits_window_started_at_idx').on(table.windowStartedAt)],
)

/**
 * The audit trail: who did what, from where, when. Never a password, hash or token. Written by the statement the
 * request makes anyway (a data-modifying CTE), so it costs no round trip.
 */
export const securityEvents = pgTable(
  'security_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    type: varchar('type', { length: 40 }).notNull(),
    /** The account the event is about; kept after the account is erased (no foreign key), its email is not. */
    userId: integer('user_id'),
    email: varchar('email', { length: 254 }),
    /** The superuser who acted, for an admin action; null for everything else. */
    actorId: integer('actor_id'),
    /** What an admin action changed, e.g. `{"is_active": [true, false]}`; null for everything else. */
    details: jsonb('details'),
    sourceIp: varchar('source_ip', { length: 45 }),
    userAgent: varchar('user_agent', { length: 512 }),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    /** Set where the event's statement may be retried: a second insert with the same key does nothing. */
    eventKey: varchar('event_key', { length: 80 }),
  },
  (table) => [
    index('security_events_created_at_idx').on(table.createdAt),
    // A user's own events, newest first: the export reads them in this order (a bounded range), and an erasure finds
    // those with an email among them.
    index('security_events_user_created_idx').on(
      table.userId,
      table.createdAt.desc().nullsFirst(),
      table.id.desc().nullsFirst(),
    ),
    // Only keyed events need the check; most events have no key. The full index below goes once no deployed code
    // names it in `on conflict (event_key)` without the predicate (docs/deploying.md, "Writing a migration").
    uniqueIndex('security_events_event_key_partial_key')
      .on(table.eventKey)
      .where(sql`${table.eventKey} is not null`),
    uniqueIndex('security_events_event_key_key').on(table.eventKey),
  ],
)

/**
 * The one live password-reset link of a user, stored only as the SHA-256 hash of its token: a newer request's link
 * replaces the row (so older links are void), a confirmation deletes it (single use), and `expires_at` ends it.
 * `job_id` names the request (its `mail_outbox` row) whose mail carries the token; a mail of an older request that
 * arrives late cannot replace a newer link.
 */
export const passwordResetTokens = pgTable(
  'password_reset_tokens',
  {
    userId: integer('user_id')
      .primaryKey()
      .references(() => users.id, { onDelete: 'cascade' }),
    tokenHash: text('token_hash').notNull(),
    jobId: uuid('job_id').notNull(),
    requestedAt: timestamp('requested_at', { withTimezone: true, mode: 'date' }).notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
  },
  (table) => [
    uniqueIndex('password_reset_tokens_token_hash_key').on(table.tokenHash),
    index('password_reset_tokens_expires_at_idx').on(table.expiresAt),
  ],
)

/**
 * The one live account-deletion link of a user (`POST /auth/account-deletion`), kept as a reset link is: only the
 * SHA-256 hash of its token, a newer request's link replacing the row, used up by the erasure it confirms (which
 * deletes the account and so the row), ended by `expires_at`, and void once the account's links are (a password
 * change or reset, "end all sessions", a deactivation: `users.links_revoked_at`). A table of its own rather than a
 * `purpose` beside the reset links: a reset link can never confirm a deletion, nor the other way round, by
 * construction, and neither's statements change.
 */
export const accountDeletionTokens = pgTable(
  'account_deletion_tokens',
  {
    userId: integer('user_id')
      .primaryKey()
      .references(() => users.id, { onDelete: 'cascade' }),
    tokenHash: text('token_hash').notNull(),
    jobId: uuid('job_id').notNull(),
    requestedAt: timestamp('requested_at', { withTimezone: true, mode: 'date' }).notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
  },
  (table) => [
    uniqueIndex('account_deletion_tokens_token_hash_key').on(table.tokenHash),
    index('account_deletion_tokens_expires_at_idx').on(table.expiresAt),
  ],
)

/**
 * The pending 6-digit codes: an address to verify (`verify`) or to move to (`change`, with the new address). Only the
 * code's hash is stored (made by the mail sender, which alone ever holds the code); one row per user and purpose, so
 * a newer code replaces an older one. A wrong guess counts a try in the statement that checks it; the fifth deletes
 * the code. Deleted, like reset links, by whatever ends the credential (a password change or reset, "end all
 * sessions", a deactivation, a deletion).
 */
export const emailCodes = pgTable(
  'email_codes',
  {
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    purpose: varchar('purpose', { length: 10 }).notNull(),
    codeHash: text('code_hash').notNull(),
    /** The address a `change` code moves the account to; null for `verify`. */
    newEmail: varchar('new_email', { length: 254 }),
    jobId: uuid('job_id').notNull(),
    requestedAt: timestamp('requested_at', { withTimezone: true, mode: 'date' }).notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
    tries: integer('tries').notNull().default(0),
  },
  (table) => [
    uniqueIndex('email_codes_user_purpose_key').on(table.userId, table.purpose),
    index('email_codes_expires_at_idx').on(table.expiresAt),
    check('email_codes_purpose', sql`${table.purpose} in ('verify', 'change')`),
  ],
)

/**
 * Mail to send, written by the request's own statement (so a request that answered has its mail recorded) and sent
 * off the request's path by the `send-mail` function. The id, made by the service, is the job the function is
 * invoked with; no token, link or address is stored here (the reset token is made when the mail is sent).
 */
export const mailOutbox = pgTable(
  'mail_outbox',
  {
    id: uuid('id').primaryKey(),
    kind: varchar('kind', { length: 40 }).notNull(),
    /** The account the mail is for; its pending jobs go with it when it is erased. Null for a notice to an erased one. */
    userId: integer('user_id').references(() => users.id, { onDelete: 'cascade' }),
    /** The address of a notice to an account that no longer exists (`account_deleted`), taken before it was erased. */
    recipient: varchar('recipient', { length: 254 }),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    attempts: integer('attempts').notNull().default(0),
    /**
     * Set by the delivery that is sending the mail, until when it may take (the function's timeout): a second delivery
     * of the same job meanwhile (Lambda delivers an event at least once) waits for a later retry instead of sending.
     */
    claimedUntil: timestamp('claimed_until', { withTimezone: true, mode: 'date' }),
    /** The delivery holding the claim: the same delivery's statement, retried after a lost answer, finds it its own. */
    claimedBy: uuid('claimed_by'),
    /** When the mail was handed to the mail service; or when the job was settled without a mail (`outcome`). */
    settledAt: timestamp('settled_at', { withTimezone: true, mode: 'date' }),
    /** `sent`, or why no mail went: `superseded` (a newer reset request), `expired`, `inactive`. */
    outcome: varchar('outcome', { length: 20 }),
  },
  (table) => [
    index('mail_outbox_user_id_idx').on(table.userId),
    index('mail_outbox_created_at_idx').on(table.createdAt),
  ],
)

/**
 * A student's study preferences (`GET`/`PUT /users/me/preferences`): the first user-owned table, and the model for
 * the app's next ones. Row-level security is enabled and forced on it (migration 0023): a statement reaches it only as
 * `papa_auth_user`, inside `runAsUser` (`db/user-scope.ts`), and sees the calling user's row alone, whatever its
 * `where` says. The API's own role has no privilege on it at all.
 */
export const userPreferences = pgTable('user_preferences', {
  userId: integer('user_id')
    .primaryKey()
    .references(() => users.id, { onDelete: 'cascade' }),
  /** The exam board the student sits (e.g. `WAEC`, `NECO`); null until chosen. */
  examBoard: varchar('exam_board', { length: 40 }),
  /** The subjects the student follows, as a JSON array of names. */
  subjects: jsonb('subjects').notNull().default(sql`'[]'::jsonb`),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
})
