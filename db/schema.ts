import { sql } from 'drizzle-orm'
import {
  bigserial,
  boolean,
  check,
  index,
  integer,
  pgTable,
  serial,
  text,
  timestamp,
  uniqueIndex,
  uuid,
  varchar,
} from 'drizzle-orm/pg-core'

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
  },
  (table) => [
    uniqueIndex('users_email_key').on(table.email),
    uniqueIndex('users_username_lower_key').on(sql`lower(${table.username})`),
    check('users_email_canonical', sql`${table.email} = lower(btrim(${table.email}))`),
  ],
)

/**
 * Refresh tokens, stored only as SHA-256 hashes. Every token descends from one login: its `family_id`. A token is
 * retired when it is exchanged; presenting a retired token again revokes the whole family.
 */
export const refreshTokens = pgTable(
  'refresh_tokens',
  {
    id: serial('id').primaryKey(),
    tokenHash: text('token_hash').notNull(),
    familyId: uuid('family_id').notNull(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
    retiredAt: timestamp('retired_at', { withTimezone: true, mode: 'date' }),
    revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'date' }),
  },
  (table) => [
    uniqueIndex('refresh_tokens_token_hash_key').on(table.tokenHash),
    index('refresh_tokens_family_id_idx').on(table.familyId),
    index('refresh_tokens_user_id_idx').on(table.userId),
  ],
)

/**
 * Consecutive failed logins per canonical email, for known and unknown emails alike, so the limit holds across
 * Lambda containers. A row is deleted by a successful login; a window that has passed starts over.
 */
export const loginAttempts = pgTable('login_attempts', {
  email: varchar('email', { length: 254 }).primaryKey(),
  failures: integer('failures').notNull(),
  windowStartedAt: timestamp('window_started_at', { withTimezone: true, mode: 'date' }).notNull(),
  lockedUntil: timestamp('locked_until', { withTimezone: true, mode: 'date' }),
})

/** Fixed-window counters, keyed by what is limited (`register:<source ip>`). */
export const rateLimits = pgTable('rate_limits', {
  key: varchar('key', { length: 100 }).primaryKey(),
  hits: integer('hits').notNull(),
  windowStartedAt: timestamp('window_started_at', { withTimezone: true, mode: 'date' }).notNull(),
})

/**
 * The audit trail: who did what, from where, when. Never a password, hash or token. Written by the statement the
 * request makes anyway (a data-modifying CTE), so it costs no round trip.
 */
export const securityEvents = pgTable(
  'security_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    type: varchar('type', { length: 40 }).notNull(),
    userId: integer('user_id').references(() => users.id, { onDelete: 'set null' }),
    email: varchar('email', { length: 254 }),
    sourceIp: varchar('source_ip', { length: 45 }),
    userAgent: varchar('user_agent', { length: 512 }),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (table) => [
    index('security_events_created_at_idx').on(table.createdAt),
    index('security_events_user_id_idx').on(table.userId),
  ],
)
