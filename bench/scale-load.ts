/**
 * The rows `npm run bench:scale` loads, in set-based SQL (one `generate_series` statement per table, run as the
 * cluster's superuser): the volume a deployment holds at steady state under its scheduled cleanup, then a day's worth of
 * stale rows, as if the cleanup had not run for a day. Every count follows from the flags and the retention windows,
 * as `scaleVolume` states them.
 */
import type { Client } from '@neondatabase/serverless'

export interface ScaleFlags {
  users: number
  sessions: number
  refreshTokens: number
  events: number
  /** Minutes between two cleanup runs (the service's default, `CLEANUP_INTERVAL_MINUTES`): a steady-state run's share. */
  intervalMinutes: number
}

/** How long a row of each table lives before the cleanup may delete it, in hours (the service's defaults). */
export const LIFETIME_HOURS = {
  /** SESSION_MAX_AGE_SECONDS, 30 days: every session is counted as living its full age (idle ones end sooner). */
  sessions: 30 * 24,
  /** REFRESH_TOKEN_TTL_SECONDS, 7 days. */
  refresh_tokens: 7 * 24,
  /** LOGIN_WINDOW_SECONDS, 15 minutes. */
  login_attempts: 0.25,
  /** The longest of the rate-limit windows (registrations, reset requests): an hour. */
  rate_limits: 1,
  /** PASSWORD_RESET_TTL_SECONDS, 30 minutes. */
  password_reset_tokens: 0.5,
  /** Mail jobs are kept 30 days (db/repositories/retention.ts). */
  mail_outbox: 30 * 24,
  /** AUDIT_RETENTION_DAYS, 400. */
  security_events: 400 * 24,
} as const

export type ScaleTable = keyof typeof LIFETIME_HOURS

export interface ScaleVolume extends ScaleFlags {
  /** Rows held and still in use, per table, at steady state. */
  live: Record<ScaleTable, number>
  /** Rows that become stale per hour: live ÷ lifetime (Little's law). */
  stalePerHour: Record<ScaleTable, number>
  /** Rows that become stale between two cleanup runs: what a run at steady state finds. */
  stalePerRun: Record<ScaleTable, number>
}

/**
 * The volume the flags describe. The small tables follow from the users: a failed login in the last 15 minutes for
 * one account in 1,000 (login_attempts), a rate-limit key (an address or an email) for one in 500, a live reset link
 * for one in 10,000, and every reset link one mail job, kept 30 days.
 */
export function scaleVolume(flags: ScaleFlags): ScaleVolume {
  const resetLinks = flags.users / 10_000
  const live: Record<ScaleTable, number> = {
    sessions: flags.sessions,
    refresh_tokens: flags.refreshTokens,
    login_attempts: Math.round(flags.users / 1000),
    rate_limits: Math.round(flags.users / 500),
    password_reset_tokens: Math.round(resetLinks),
    mail_outbox: Math.round((resetLinks / LIFETIME_HOURS.password_reset_tokens) * LIFETIME_HOURS.mail_outbox),
    security_events: flags.events,
  }
  const stalePerHour = Object.fromEntries(
    Object.entries(live).map(([table, rows]) => [
      table,
      Math.max(1, Math.round(rows / LIFETIME_HOURS[table as ScaleTable])),
    ]),
  ) as Record<ScaleTable, number>
  const stalePerRun = Object.fromEntries(
    Object.entries(stalePerHour).map(([table, rows]) => [
      table,
      Math.max(1, Math.round((rows * flags.intervalMinutes) / 60)),
    ]),
  ) as Record<ScaleTable, number>
  return { ...flags, live, stalePerHour, stalePerRun }
}

/** The email of loaded user `n` (1-based): a domain no fixture uses, so the loaded rows can be told apart. */
export const LOADED_EMAIL_DOMAIN = 'scale.example.edu'

const USER_AGENTS = [
  'Mozilla/5.0 (Linux; Android 14; SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  'PastQuestions/3.2.1 (Android 13; Tecno KI7)',
]
const userAgent = (expression: string) =>
  `(array[${USER_AGENTS.map((agent) => `'${agent}'`).join(', ')}])[1 + (${expression}) % ${USER_AGENTS.length}]`
const sourceIp = (expression: string) =>
  `'10.' || ((${expression}) >> 16 & 255) || '.' || ((${expression}) >> 8 & 255) || '.' || ((${expression}) & 255)`
/** A stored token hash as the service writes it (SHA-256, base64url), of a made-up token. */
const tokenHash = (seed: string) =>
  `rtrim(translate(encode(sha256(convert_to(${seed}, 'UTF8')), 'base64'), '+/', '-_'), '=')`
/** A made-up UUID, the same for the same seed: tokens and jobs find their session or user without a join. */
const uuidOf = (seed: string) => `md5(${seed})::uuid`

/**
 * An SQL expression of a loaded user's id for a series number: the series spread over the loaded users (a stride
 * prime to their count, in bigint so a large series cannot overflow).
 */
async function loadedUserOf(client: Client): Promise<(expression: string) => string> {
  const bounds = await client.query(
    `select min(id)::int as lo, max(id)::int as hi from users where email like $1`,
    [`%@${LOADED_EMAIL_DOMAIN}`],
  )
  const { lo, hi } = bounds.rows[0] as { lo: number; hi: number }
  return (expression: string) => `(${lo} + ((${expression})::bigint * 7919) % ${hi - lo + 1})::int`
}

/**
 * Where the loaded sessions' stale rows lie: every `stride`-th session, spread over the table as sessions end at any
 * age (one clump at the start of the heap would let the cleanup's scan find them all at once), a third of them of
 * each way of ending. `liveSession` maps any series number onto a session that is not stale.
 */
function sessionLayout(sessions: number, stalePerHour: number) {
  const stride = Math.max(2, Math.floor(sessions / Math.max(1, stalePerHour)))
  return {
    isStale: (g: string) => `(${g} % ${stride} = 0)`,
    /** 0 revoked, 1 past its age, 2 idle. */
    kind: (g: string) => `((${g} / ${stride}) % 3)`,
    liveSession: (expression: string) =>
      `(select case when h % ${stride} = 0 then h - 1 else h end from (select 1 + ((${expression}) - 1) % ${sessions} as h) s)`,
  }
}

export interface LoadStep {
  table: ScaleTable | 'users'
  rows: number
  ms: number
}

/** Runs `statement`, timing it; its row count is the step's. */
async function step(
  client: Client,
  table: LoadStep['table'],
  statement: string,
  params: unknown[],
): Promise<LoadStep> {
  const started = performance.now()
  const result = await client.query(statement, params)
  return { table, rows: result.rowCount ?? 0, ms: performance.now() - started }
}

/**
 * Loads the steady-state volume: users (each with the same bcrypt hash, `passwordHash`), sessions with their refresh
 * token chains, the small tables and the audit trail, each with one interval's worth of rows gone stale since the
 * last scheduled cleanup (sessions revoked, past their age or idle; tokens expired; windows passed; events past
 * retention).
 */
export async function loadSteadyState(
  client: Client,
  volume: ScaleVolume,
  passwordHash: string,
  onStep: (step: LoadStep) => void = () => {},
): Promise<LoadStep[]> {
  const steps: LoadStep[] = []
  const run = async (table: LoadStep['table'], statement: string, params: unknown[] = []) => {
    const done = await step(client, table, statement, params)
    steps.push(done)
    onStep(done)
  }
  const { users, sessions, refreshTokens, events, stalePerRun, intervalMinutes } = volume
  const span = `interval '${intervalMinutes} minutes'`

  // Users: a third without a username, one in 50 deactivated, signed up over the last 400 days.
  await run(
    'users',
    `insert into users (email, username, hashed_password, is_active, created_at, updated_at)
     select 'student' || g || '@${LOADED_EMAIL_DOMAIN}', case when g % 3 = 0 then null else 'student' || g end,
       $1, g % 50 <> 0, ts, ts + (now() - ts) * random()
     from generate_series(1, $2::int) g, lateral (select now() - random() * interval '400 days' as ts) t`,
    [passwordHash, users],
  )
  const userOf = await loadedUserOf(client)

  // Sessions: an interval's worth are stale, spread over the table, a third each revoked, past the 30-day age, idle (see
  // the tokens).
  const layout = sessionLayout(sessions, stalePerRun.sessions)
  const stale = layout.isStale('g')
  await run(
    'sessions',
    `insert into sessions (id, user_id, created_at, last_used_at, source_ip, user_agent, revoked_at, revoked_reason)
     select ${uuidOf(`'s' || g`)}, ${userOf('g')}, created, created + (now() - created) * random(),
       ${sourceIp('g')}, ${userAgent('g')},
       case when ${stale} and ${layout.kind('g')} = 0 then now() - random() * ${span} end,
       case when ${stale} and ${layout.kind('g')} = 0 then 'logout' end
     from generate_series(1, $1::int) g,
       lateral (select case when ${stale} and ${layout.kind('g')} = 1
         then now() - interval '30 days' - random() * ${span}
         else now() - random() * interval '29 days' end as created) t`,
    [sessions],
  )
  // Each session's current token, alive except for the idle stale sessions (expired within the interval); then retired
  // tokens of live sessions (a chain), alive until their own expiry, one interval's worth of them expired already. A live
  // session is younger than 29 days and its token lives a day more at least: none ends during a run (a day's backlog
  // adds tokens to them).
  await run(
    'refresh_tokens',
    `insert into refresh_tokens (token_hash, session_id, created_at, expires_at)
     select ${tokenHash(`'t' || g`)}, ${uuidOf(`'s' || g`)}, expires - interval '7 days', expires
     from generate_series(1, $1::int) g,
       lateral (select case when ${stale} and ${layout.kind('g')} = 2
         then now() - random() * ${span}
         else now() + interval '1 day' + random() * interval '6 days' end as expires) t`,
    [sessions],
  )
  const retired = Math.max(0, refreshTokens - sessions)
  if (retired > 0) {
    await run(
      'refresh_tokens',
      `insert into refresh_tokens (token_hash, session_id, created_at, expires_at, retired_at)
       select ${tokenHash(`'r' || g`)}, ${uuidOf(`'s' || ${layout.liveSession('g')}`)}, expires - interval '7 days',
         expires, expires - interval '7 days' + interval '1 minute'
       from generate_series(1, $1::int) g,
         lateral (select case when g <= $2
           then now() - random() * ${span}
           else now() + random() * interval '7 days' end as expires) t`,
      [retired, Math.min(retired, stalePerRun.refresh_tokens)],
    )
  }
  // Statistics first: without them the planner may read every token for every session.
  await client.query('analyze sessions, refresh_tokens')
  await run('sessions', SESSION_EXPIRY)
  await loadSmallTables(run, volume, userOf, 'interval', 'live')

  // The audit trail: spread evenly over the 400 days of retention and one interval more.
  await run(
    'security_events',
    `insert into security_events (type, user_id, email, source_ip, user_agent, created_at, event_key)
     select (array['login_success', 'login_success', 'login_success', 'session_ended', 'login_failure', 'logout',
         'register', 'password_reset_requested'])[1 + g % 8],
       ${userOf('g')}, case when g % 8 = 4 then 'student' || (g % ${users}) || '@${LOADED_EMAIL_DOMAIN}' end,
       ${sourceIp('g')}, ${userAgent('g')},
       now() - (interval '400 days' + ${span}) * (g::float8 / $1),
       case when g % 8 = 7 then 'reset-requested:' || ${uuidOf(`'e' || g`)} end
     from generate_series(1, $1::int) g`,
    [events],
  )
  return steps
}

/**
 * Each loaded session's expiry, as the statements that start, rotate and end sessions set it (and as the cleanup's
 * backfill leaves rows from before the column): when it was revoked, else the earlier of its lifetime's end and its
 * latest token's expiry. Loaded data then looks like a table in service, not one awaiting its backfill.
 */
const SESSION_EXPIRY = `update sessions s set expires_at = case
    when s.revoked_at is not null then s.revoked_at
    else least(s.created_at + interval '30 days', coalesce(
      (select max(t.expires_at) from refresh_tokens t where t.session_id = s.id), '-infinity'))
  end
  where s.expires_at is null`

/**
 * login_attempts, rate_limits, password_reset_tokens and mail_outbox: `mode` `live` loads each table's live rows and
 * `staleFor` of stale ones; `backlog` only `staleFor` of stale ones, under keys of their own.
 */
async function loadSmallTables(
  run: (table: LoadStep['table'], statement: string, params?: unknown[]) => Promise<void>,
  volume: ScaleVolume,
  userOf: (expression: string) => string,
  staleFor: 'interval' | '1 day',
  mode: 'live' | 'backlog',
) {
  const prefix = mode === 'live' ? 'l' : 'b'
  const count = (table: ScaleTable) => ({
    live: mode === 'live' ? volume.live[table] : 0,
    stale: staleFor === 'interval' ? volume.stalePerRun[table] : volume.stalePerHour[table] * 24,
  })
  const span = staleFor === 'interval' ? `${volume.intervalMinutes} minutes` : '1 day'
  // Rows 1..live are alive (their window or link still running), the rest passed it within `staleFor`.
  const attempts = count('login_attempts')
  await run(
    'login_attempts',
    `insert into login_attempts (email, failures, window_started_at)
     select '${prefix}' || g || '.attempt@${LOADED_EMAIL_DOMAIN}', 1 + g % 9,
       case when g <= $1 then now() - random() * interval '15 minutes'
         else now() - interval '15 minutes' - random() * $3::interval end
     from generate_series(1, $2::int) g`,
    [attempts.live, attempts.live + attempts.stale, span],
  )
  const limits = count('rate_limits')
  await run(
    'rate_limits',
    `insert into rate_limits (key, hits, window_started_at)
     select (array['register:', 'login-failures:', 'password-reset-ip:'])[1 + g % 3] || '${prefix}' || g, 1 + g % 20,
       case when g <= $1 then now() - random() * interval '1 hour'
         else now() - interval '1 hour' - random() * $3::interval end
     from generate_series(1, $2::int) g`,
    [limits.live, limits.live + limits.stale, span],
  )
  // Reset links and their mail jobs, for users of their own (a user holds one link at most).
  const links = count('password_reset_tokens')
  const jobs = count('mail_outbox')
  const linkUser = (g: string) => userOf(`${mode === 'live' ? 0 : 1_000_003} + ${g}`)
  await run(
    'password_reset_tokens',
    `insert into password_reset_tokens (user_id, token_hash, job_id, requested_at, expires_at)
     select ${linkUser('g')}, ${tokenHash(`'${prefix}p' || g`)}, ${uuidOf(`'${prefix}j' || g`)}, expires - interval '30 minutes', expires
     from generate_series(1, $2::int) g,
       lateral (select case when g <= $1 then now() + random() * interval '30 minutes'
         else now() - random() * $3::interval end as expires) t
     on conflict (user_id) do nothing`,
    [links.live, links.live + links.stale, span],
  )
  await run(
    'mail_outbox',
    `insert into mail_outbox (id, kind, user_id, created_at, attempts, settled_at, outcome)
     select ${uuidOf(`'${prefix}m' || g`)}, 'password_reset', ${linkUser('g')}, created, 1, created + interval '2 seconds', 'sent'
     from generate_series(1, $2::int) g,
       lateral (select case when g <= $1 then now() - random() * interval '30 days'
         else now() - interval '30 days' - random() * $3::interval end as created) t`,
    [jobs.live, jobs.live + jobs.stale, span],
  )
}

/**
 * A day's worth of stale rows, as if the cleanup had not run for a day: 24 × each table's hourly rate, each row gone
 * stale at a random time in the last 24 hours (sessions ended, with their tokens; expired tokens of live sessions;
 * passed windows and links; mail jobs and audit events past retention).
 */
export async function loadBacklog(
  client: Client,
  volume: ScaleVolume,
  onStep: (step: LoadStep) => void = () => {},
): Promise<LoadStep[]> {
  const steps: LoadStep[] = []
  const run = async (table: LoadStep['table'], statement: string, params: unknown[] = []) => {
    const done = await step(client, table, statement, params)
    steps.push(done)
    onStep(done)
  }
  const userOf = await loadedUserOf(client)
  const { stalePerHour, sessions } = volume
  const staleSessions = stalePerHour.sessions * 24
  await run(
    'sessions',
    `insert into sessions (id, user_id, created_at, last_used_at, source_ip, user_agent, revoked_at, revoked_reason)
     select ${uuidOf(`'bs' || g`)}, ${userOf('g')}, created, created + (now() - created) * random(),
       ${sourceIp('g')}, ${userAgent('g')},
       case when g % 3 = 0 then now() - random() * interval '1 day' end,
       case when g % 3 = 0 then 'logout' end
     from generate_series(1, $1::int) g,
       lateral (select case when g % 3 = 1
         then now() - interval '30 days' - random() * interval '1 day'
         else now() - random() * interval '29 days' end as created) t`,
    [staleSessions],
  )
  await run(
    'refresh_tokens',
    `insert into refresh_tokens (token_hash, session_id, created_at, expires_at)
     select ${tokenHash(`'bt' || g`)}, ${uuidOf(`'bs' || g`)}, expires - interval '7 days', expires
     from generate_series(1, $1::int) g,
       lateral (select case when g % 3 = 2
         then now() - random() * interval '1 day'
         else now() + random() * interval '7 days' end as expires) t`,
    [staleSessions],
  )
  // Expired, retired tokens of the loaded live sessions.
  const layout = sessionLayout(sessions, volume.stalePerRun.sessions)
  await run(
    'refresh_tokens',
    `insert into refresh_tokens (token_hash, session_id, created_at, expires_at, retired_at)
     select ${tokenHash(`'br' || g`)}, ${uuidOf(`'s' || ${layout.liveSession('g')}`)}, expires - interval '7 days',
       expires, expires - interval '7 days' + interval '1 minute'
     from generate_series(1, $1::int) g,
       lateral (select now() - random() * interval '1 day' as expires) t`,
    [stalePerHour.refresh_tokens * 24],
  )
  // Statistics first: without them the planner may read every token for every session.
  await client.query('analyze sessions, refresh_tokens')
  await run('sessions', SESSION_EXPIRY)
  await loadSmallTables(run, volume, userOf, '1 day', 'backlog')
  await run(
    'security_events',
    `insert into security_events (type, user_id, source_ip, user_agent, created_at)
     select 'login_success', ${userOf('g')}, ${sourceIp('g')}, ${userAgent('g')},
       now() - interval '400 days' - random() * interval '1 day'
     from generate_series(1, $1::int) g`,
    [stalePerHour.security_events * 24],
  )
  return steps
}

export interface TableSize {
  table: string
  rows: number
  totalBytes: number
  heapBytes: number
  indexBytes: number
}

/** Each table of the schema: its rows (counted), and its size on disk with its TOAST and its indexes. */
export async function tableSizes(client: Client): Promise<TableSize[]> {
  const tables = await client.query(
    `select c.relname as table, pg_total_relation_size(c.oid)::float8 as total,
       pg_relation_size(c.oid)::float8 as heap, pg_indexes_size(c.oid)::float8 as indexes
     from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = 'public' and c.relkind = 'r' and c.relname not like '\\_\\_%'
     order by pg_total_relation_size(c.oid) desc`,
  )
  const sizes: TableSize[] = []
  for (const row of tables.rows as { table: string; total: number; heap: number; indexes: number }[]) {
    const counted = await client.query(`select count(*)::float8 as rows from "${row.table}"`)
    sizes.push({
      table: row.table,
      rows: Number((counted.rows[0] as { rows: number }).rows),
      totalBytes: row.total,
      heapBytes: row.heap,
      indexBytes: row.indexes,
    })
  }
  return sizes
}
