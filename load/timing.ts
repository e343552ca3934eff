/**
 * `npm run bench:timing`: answers that must not tell whether an email has an account must not tell it by their time
 * either (the contract: same status, body, headers, and time within noise). Interleaves, in one run:
 * - a login for an unknown email against one with a wrong password, on `login` and on the token endpoint's password
 *   grant (bcrypt at the service's default cost);
 * - the same on `login` for accounts whose stored hash has another cost than `BCRYPT_COST` (`--stored-cost`; by
 *   default two below it, as after raising the setting; above it, as for passlib's `$2b$12$` hashes carried over or
 *   hashes made before the setting was lowered, every check of the run then costs a compare at that cost);
 * - a password-reset request for an unknown email against one for an active account, which really queues a mail job
 *   and has the mail sent (the stack's mail option: its local Lambda runs the mail sender, which sends to MailDev).
 *   The local Lambda runs the sender in this process, where in AWS it runs in a container of its own; so the reset
 *   pair is measured twice, the sender invoked at once (`concurrent`, the local stack as it is) and held until the
 *   request is measured (`deferred`, as deployed: the send cannot share the request's CPU). See `invoke-relay.ts`.
 * - an email-verification code request for an unknown email against one for an active, unverified account (which
 *   queues a job and has the code mailed), the sender deferred as above.
 * - an account-deletion link request for an unknown email against one for an active account (which queues a job and
 *   has the link mailed; nothing is deleted), the sender deferred as above.
 * Every sample is taken with nothing else running: held calls are handed on and the local Lambda is idle before the
 * next request. Through the real handlers with API Gateway-shaped events, on a throwaway embedded PostgreSQL reached
 * through the Neon driver and the WebSocket proxy. Prints the medians and their ratio per pair, met when within the
 * tolerance and answered identically; exits 1 when a judged pair (login, token, the deferred mail pairs) is not met, or when a
 * known request's mail was not sent.
 */
import { cpus, loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda'
import { sql } from 'drizzle-orm'
import { createDatabase } from '#db/client'
import { findRoute } from '#functions/routes'
import { fromApiGatewayResult, lambdaContext, toApiGatewayEvent } from '#infra/local/event'
import { startLocalStack } from '#infra/local/local-stack'
import { startMailCatcher } from '#infra/local/mail-catcher'
import { createPasswordHasher } from '#shared/domain/passwords'
import { newSigningKeySet } from '#shared/domain/signing-keys'
import { INTEGER_SETTINGS } from '#shared/platform/settings'
import { median, ms, quantile } from '../bench/stats.ts'
import { type InvokeRelay, type RelayMode, startInvokeRelay } from './invoke-relay.ts'

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyResultV2>

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '40' },
    warmup: { type: 'string', default: '5' },
    'bcrypt-cost': { type: 'string', default: '12' },
    'stored-cost': { type: 'string' },
    tolerance: { type: 'string', default: '10' },
    'reset-repeats': { type: 'string', default: '3' },
  },
})
const ROUNDS = Math.max(30, Number(flags.rounds))
const WARMUP = Math.max(0, Number(flags.warmup))
const BCRYPT_COST = Number(flags['bcrypt-cost'])
/** The cost of the stored hashes of the accounts of the `login, stored cost` pair. */
const STORED_COST = Number(flags['stored-cost'] ?? BCRYPT_COST - 2)
if (!Number.isInteger(STORED_COST) || STORED_COST < 4 || STORED_COST > 14)
  throw new Error('--stored-cost must be a whole number from 4 to 14')
/** What every check of the run costs: a compare at the highest of BCRYPT_COST and the stored costs. */
const TARGET_COST = Math.max(BCRYPT_COST, STORED_COST)
const TOLERANCE = Number(flags.tolerance) / 100
/** Each reset request is a few milliseconds against a login's hundreds: more of them per round steady their medians. */
const RESET_REPEATS = Math.max(1, Number(flags['reset-repeats']))
/** Failed logins per account, below the lock at 10 consecutive failures (login and token share the count). */
const FAILURES_PER_ACCOUNT = 8
const PASSWORD = 'the right password'

const progress = (message: string) => process.stderr.write(`bench:timing: ${message}\n`)
const report = process.stdout.write.bind(process.stdout)
// The functions' access log (a line per request, as CloudWatch would get it) would bury the report.
process.stdout.write = (() => true) as typeof process.stdout.write

/** A new uniformly random order (Fisher–Yates). */
function shuffled<T>(items: readonly T[]): T[] {
  const result = [...items]
  for (let i = result.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[result[i], result[j]] = [result[j] as T, result[i] as T]
  }
  return result
}
const loadBefore = loadavg()[0] ?? 0

// No reset limit may refuse a sample: every request counts towards its email's and its source address's limit.
process.env.PASSWORD_RESET_EMAIL_LIMIT = String(INTEGER_SETTINGS.PASSWORD_RESET_EMAIL_LIMIT.max)
process.env.PASSWORD_RESET_IP_LIMIT = String(INTEGER_SETTINGS.PASSWORD_RESET_IP_LIMIT.max)

const catcher = await startMailCatcher()
const stack = await startLocalStack({ setup: 'migrations', mail: { smtpUrl: catcher.smtpUrl } }).catch(
  async (error: unknown) => {
    await catcher.stop()
    throw error
  },
)
let relay: InvokeRelay | undefined
let exitCode = 1
try {
  const lambda = stack.lambda
  if (!lambda) throw new Error('the stack started without its local Lambda')
  relay = await startInvokeRelay(lambda.endpoint)
  // Set before the handlers are imported: a function reads its configuration once, at cold start.
  Object.assign(process.env, stack.databaseEnv, {
    JWT_SIGNING_KEYS: JSON.stringify(newSigningKeySet(new Date())),
    BCRYPT_COST: String(BCRYPT_COST),
    AWS_ENDPOINT_URL_LAMBDA: relay.endpoint,
  })
  const [
    { handler: register },
    { handler: login },
    { handler: token },
    { handler: passwordReset },
    { handler: emailVerification },
    { handler: accountDeletion },
  ] = (await Promise.all([
    import('#functions/register'),
    import('#functions/login'),
    import('#functions/token'),
    import('#functions/password-reset'),
    import('#functions/email-verification'),
    import('#functions/account-deletion'),
  ])) as { handler: Handler }[] as [
    { handler: Handler },
    { handler: Handler },
    { handler: Handler },
    { handler: Handler },
    { handler: Handler },
    { handler: Handler },
  ]

  let requests = 0
  const event = (path: string, body: string, contentType: string) => {
    const route = findRoute('POST', path)
    return toApiGatewayEvent(
      {
        method: 'POST',
        url: path,
        headers: { host: 'timing.local', 'content-type': contentType },
        body,
        // A source address per request (TEST-NET-3): the registrations stay clear of the per-address limit.
        sourceIp: `203.0.113.${requests++ % 250}`,
      },
      route ? `${route.method} ${route.path}` : '$default',
    )
  }
  const invoke = async (handler: Handler, request: APIGatewayProxyEventV2) => {
    const started = performance.now()
    const result = fromApiGatewayResult(await handler(request, lambdaContext('timing')))
    return { ms: performance.now() - started, ...result, body: result.body.toString('utf8') }
  }

  let unique = 0
  const freshEmail = (kind: string) => `${kind}.${process.pid}.${unique++}@timing.example.com`
  const accountsNeeded = Math.ceil((2 * (ROUNDS + WARMUP)) / FAILURES_PER_ACCOUNT)
  const storedAccountsNeeded = Math.ceil((ROUNDS + WARMUP) / FAILURES_PER_ACCOUNT)
  progress(
    `registering ${accountsNeeded} + ${storedAccountsNeeded} accounts (bcrypt cost ${BCRYPT_COST}), ` +
      `the second ones' hashes then replaced by hashes of cost ${STORED_COST}…`,
  )
  type Account = { email: string; failures: number }
  const registerAccounts = async (count: number, kind: string) => {
    const made: Account[] = []
    for (let i = 0; i < count; i++) {
      const email = freshEmail(kind)
      const answer = await invoke(
        register,
        event('/api/v1/auth/register', JSON.stringify({ email, password: PASSWORD }), 'application/json'),
      )
      if (answer.statusCode !== 201) throw new Error(`register answered ${answer.statusCode}: ${answer.body}`)
      made.push({ email, failures: 0 })
    }
    return made
  }
  const accounts = await registerAccounts(accountsNeeded, 'known')
  const storedAccounts = await registerAccounts(storedAccountsNeeded, 'known-stored')
  // As an earlier BCRYPT_COST or the FastAPI backend left them; before any login, so every function's first check
  // reads the highest stored cost with these in.
  const direct = createDatabase({
    url: stack.databaseEnv.DATABASE_URL,
    wsProxy: stack.databaseEnv.DATABASE_WS_PROXY,
    connectTimeoutMs: 3000,
    poolMax: 1,
  })
  try {
    const storedHasher = createPasswordHasher({ cost: STORED_COST })
    for (const { email } of storedAccounts) {
      const hash = await storedHasher.hash(PASSWORD)
      await direct.db.execute(sql`update users set hashed_password = ${hash} where email = ${email}`)
    }
  } finally {
    await direct.close()
  }
  const wrongPasswordAccount = (pool: Account[]) => {
    const account = pool.find((candidate) => candidate.failures < FAILURES_PER_ACCOUNT)
    if (!account) throw new Error('out of accounts')
    account.failures++
    return account.email
  }
  // The active accounts in turn, and as many unknown emails in turn, so that every email of either side has been
  // asked for as often before (its per-email count made once, then updated): far below the raised limits.
  let resetsOfKnown = 0
  let resetsOfUnknown = 0
  const unknownEmails = accounts.map(() => freshEmail('unknown'))
  const activeAccount = () => (accounts[resetsOfKnown++ % accounts.length] as { email: string }).email
  const unknownEmail = () => unknownEmails[resetsOfUnknown++ % unknownEmails.length] as string
  // The code requests: the same accounts (registered, never verified) and unknown emails, in turn of their own.
  let codesOfKnown = 0
  let codesOfUnknown = 0
  const unverifiedAccount = () => (accounts[codesOfKnown++ % accounts.length] as { email: string }).email
  const unknownCodeEmail = () => unknownEmails[codesOfUnknown++ % unknownEmails.length] as string
  // The deletion-link requests: the same accounts and unknown emails again, in turn of their own.
  let deletionsOfKnown = 0
  let deletionsOfUnknown = 0
  const deletionAccount = () => (accounts[deletionsOfKnown++ % accounts.length] as { email: string }).email
  const unknownDeletionEmail = () => unknownEmails[deletionsOfUnknown++ % unknownEmails.length] as string

  /** A pair to compare: the same request for an unknown email and for an email that has an account. */
  interface Pair {
    name: string
    /** What the request for the known email is. */
    known: string
    /** The login pairs: the accounts whose stored hash has `--stored-cost`, not `BCRYPT_COST`. */
    stored?: boolean
    /** The reset and code pairs: how the relay hands the mail sender its invocation. */
    relay?: RelayMode
    /** The mailed request the pair makes (with `relay`): a reset link's, a verification code's, a deletion link's. */
    mails?: 'reset' | 'code' | 'deletion'
    /** Whether the pair decides the run's verdict. */
    judged: boolean
  }
  const pairs: Pair[] = [
    { name: 'login', known: 'wrong password', judged: true },
    { name: 'token', known: 'wrong password', judged: true },
    {
      name: `login, stored cost ${STORED_COST}`,
      known: `wrong password, hash of cost ${STORED_COST}`,
      stored: true,
      judged: true,
    },
    {
      name: 'password-reset, sender deferred',
      known: 'active account',
      relay: 'deferred',
      mails: 'reset',
      judged: true,
    },
    {
      name: 'password-reset, sender concurrent',
      known: 'active account',
      relay: 'concurrent',
      mails: 'reset',
      judged: false,
    },
    {
      name: 'email-verification, sender deferred',
      known: 'unverified account',
      relay: 'deferred',
      mails: 'code',
      judged: true,
    },
    {
      name: 'account-deletion, sender deferred',
      known: 'active account',
      relay: 'deferred',
      mails: 'deletion',
      judged: true,
    },
  ]
  type Side = 'unknown' | 'known'
  interface Kind {
    pair: Pair
    side: Side
  }
  const kinds: Kind[] = pairs.flatMap((pair) =>
    (['unknown', 'known'] as const).map((side) => ({ pair, side })),
  )
  /** A round: every kind once, each reset kind `RESET_REPEATS` times. */
  const round = kinds.flatMap((kind) =>
    Array.from({ length: kind.pair.relay ? RESET_REPEATS : 1 }, () => kind),
  )
  const request = (kind: Kind) => {
    const { pair, side } = kind
    if (pair.mails === 'code') {
      const email = side === 'unknown' ? unknownCodeEmail() : unverifiedAccount()
      return {
        handler: emailVerification,
        event: event('/api/v1/auth/email-verification', JSON.stringify({ email }), 'application/json'),
      }
    }
    if (pair.mails === 'deletion') {
      const email = side === 'unknown' ? unknownDeletionEmail() : deletionAccount()
      return {
        handler: accountDeletion,
        event: event('/api/v1/auth/account-deletion', JSON.stringify({ email }), 'application/json'),
      }
    }
    if (pair.relay) {
      const email = side === 'unknown' ? unknownEmail() : activeAccount()
      return {
        handler: passwordReset,
        event: event('/api/v1/auth/password-reset', JSON.stringify({ email }), 'application/json'),
      }
    }
    // A new email for every unknown-email attempt: one address never collects enough failures to lock.
    const email =
      side === 'unknown'
        ? freshEmail('unknown')
        : wrongPasswordAccount(pair.stored ? storedAccounts : accounts)
    const password = side === 'unknown' ? PASSWORD : 'a wrong password'
    return pair.name.startsWith('login')
      ? {
          handler: login,
          event: event('/api/v1/auth/login', JSON.stringify({ email, password }), 'application/json'),
        }
      : {
          handler: token,
          event: event(
            '/api/v1/auth/token',
            new URLSearchParams({ username: email, password }).toString(),
            'application/x-www-form-urlencoded',
          ),
        }
  }

  const timings = new Map<Kind, number[]>(kinds.map((kind) => [kind, []]))
  /** How long the mail sender was still at work once the answer was given (reset kinds). */
  const senderAfter = new Map<Kind, number[]>(kinds.map((kind) => [kind, []]))
  const answers = new Map<Kind, Set<string>>(kinds.map((kind) => [kind, new Set()]))
  progress(`${WARMUP} + ${ROUNDS} rounds of ${round.length} requests, in a new random order each round…`)
  for (let index = 0; index < WARMUP + ROUNDS; index++) {
    for (const kind of shuffled(round)) {
      const { handler, event: built } = request(kind)
      if (kind.pair.relay) relay.mode = kind.pair.relay
      const answer = await invoke(handler, built)
      // Off the clock: the held invocation handed on and every mail of this request sent, before the next one.
      const settling = performance.now()
      await relay.release()
      await lambda.idle()
      const settled = performance.now() - settling
      // Everything a client sees, header names and values included; a request id would differ, none is sent.
      const headers = Object.entries(answer.headers).sort(([a], [b]) => a.localeCompare(b))
      answers.get(kind)?.add(JSON.stringify({ status: answer.statusCode, headers, body: answer.body }))
      if (index >= WARMUP) {
        timings.get(kind)?.push(answer.ms)
        senderAfter.get(kind)?.push(settled)
      }
    }
  }

  // Every reset for an active account queued a job that was mailed; no unknown email got anything. MailDev may still
  // be storing the last mail it accepted: a few seconds' grace.
  let caught = await catcher.messages()
  for (let wait = 0; wait < 50 && caught.length < resetsOfKnown + codesOfKnown + deletionsOfKnown; wait++) {
    await new Promise((done) => setTimeout(done, 100))
    caught = await catcher.messages()
  }
  const resetMails = caught.filter((mail) => mail.subject.startsWith('Reset your')).length
  const toUnknown = caught.filter((mail) =>
    mail.to.some(({ address }) => address.startsWith('unknown.')),
  ).length
  const codeMails = caught.filter((mail) => mail.subject.includes('verification code')).length
  const deletionMails = caught.filter((mail) => mail.subject.startsWith('Delete your')).length
  const mailed =
    resetMails === resetsOfKnown &&
    codeMails === codesOfKnown &&
    deletionMails === deletionsOfKnown &&
    toUnknown === 0 &&
    lambda.failures.length === 0

  const kindOf = (pair: Pair, side: Side) =>
    kinds.find((kind) => kind.pair === pair && kind.side === side) as Kind
  const spread = (values: number[]) =>
    `${ms(median(values))} (${ms(quantile(values, 0.25))}–${ms(quantile(values, 0.75))})`
  const rows: string[] = []
  let allMet = mailed
  for (const pair of pairs) {
    const [unknownKind, knownKind] = [kindOf(pair, 'unknown'), kindOf(pair, 'known')]
    const unknown = timings.get(unknownKind) ?? []
    const known = timings.get(knownKind) ?? []
    const [a, b] = [median(unknown), median(known)]
    const ratio = Math.max(a, b) / Math.min(a, b)
    const same = [...(answers.get(unknownKind) ?? [])]
    const other = [...(answers.get(knownKind) ?? [])]
    const identical = same.length === 1 && other.length === 1 && same[0] === other[0]
    const met = ratio <= 1 + TOLERANCE && identical
    if (pair.judged) allMet &&= met
    const status = same[0] ? (JSON.parse(same[0]) as { status: number }).status : 'n/a'
    const slower = a > b ? 'unknown' : 'known'
    rows.push(
      `| ${pair.name} | ${pair.known} | ${spread(unknown)} | ${spread(known)} | ${ratio.toFixed(3)} (${slower} slower) | ` +
        `${identical ? `identical (${status})` : `**differ**: ${same.length}+${other.length} distinct`} | ` +
        `${met ? 'yes' : '**no**'}${pair.judged ? '' : ' (not judged)'} |`,
    )
  }
  const senderRows = pairs
    .filter((pair) => pair.relay)
    .map(
      (pair) =>
        `| ${pair.name} | ${spread(senderAfter.get(kindOf(pair, 'unknown')) ?? [])} | ` +
        `${spread(senderAfter.get(kindOf(pair, 'known')) ?? [])} |`,
    )
  const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.version}`
  report(
    [
      '## Timing: unknown email against a known account',
      '',
      `${machine}; load average ${loadBefore.toFixed(2)} before, ${(loadavg()[0] ?? 0).toFixed(2)} after.`,
      `BCRYPT_COST ${BCRYPT_COST}; the stored pair's hashes of cost ${STORED_COST}, so every check costs a compare at ` +
        `cost ${TARGET_COST}; ${ROUNDS} rounds after ${WARMUP} of warm-up, each round the ${round.length} requests ` +
        `(each reset kind ${RESET_REPEATS} times) in a new random order, one at a time, through the real handlers ` +
        '(API Gateway events) on an embedded PostgreSQL, the next request only once the mail sender is idle. Logins: ' +
        `a new email for every unknown-email request, ${FAILURES_PER_ACCOUNT} failures at most per registered account. ` +
        `Resets: the ${accounts.length} accounts and ${unknownEmails.length} unknown emails in turn (limits raised to ` +
        `${process.env.PASSWORD_RESET_EMAIL_LIMIT} per email and ${process.env.PASSWORD_RESET_IP_LIMIT} per address).`,
      '',
      '| pair | known email | unknown email: median (p25–p75) | known email: median (p25–p75) | slower / faster | ' +
        `responses | within ${(TOLERANCE * 100).toFixed(0)}% |`,
      '| --- | --- | --- | --- | --- | --- | --- |',
      ...rows,
      '',
      `Mail: ${resetsOfKnown} reset requests for active accounts, ${resetMails} reset mails caught by MailDev; ` +
        `${codesOfKnown} code requests for unverified accounts, ${codeMails} code mails caught; ` +
        `${deletionsOfKnown} deletion-link requests for active accounts, ${deletionMails} deletion mails caught; ` +
        `${toUnknown} to an unknown email; ${lambda.failures.length} failed sends${mailed ? '' : ' (**not as expected**)'}.`,
      '',
      'The mail sender at work after the answer, until the local Lambda was idle (deferred: from its invocation on):',
      '',
      '| pair | unknown email: median (p25–p75) | known email: median (p25–p75) |',
      '| --- | --- | --- |',
      ...senderRows,
      '',
    ].join('\n'),
  )
  exitCode = allMet ? 0 : 1
} finally {
  await relay?.close()
  await stack.stop()
  await catcher.stop()
}
// The handlers' pool would keep the process alive; everything it reached is gone now.
process.exit(exitCode)
