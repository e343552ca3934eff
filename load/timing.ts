/**
 * `npm run bench:timing`: a login for an unknown email and one for a wrong password must take the same time (the
 * contract: same status, body, headers, and time within noise). Interleaves the two, on `login` and on the token
 * endpoint's password grant, through the real handlers with API Gateway-shaped events, on a throwaway embedded
 * PostgreSQL reached through the Neon driver and the WebSocket proxy; bcrypt at the service's default cost.
 * Prints the medians and their ratio per endpoint, met when within the tolerance; exits 1 otherwise.
 */
import { cpus, loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda'
import { findRoute } from '#functions/routes'
import { fromApiGatewayResult, lambdaContext, toApiGatewayEvent } from '#infra/local/event'
import { startLocalStack } from '#infra/local/stack'
import { newSigningKeySet } from '#shared/domain/signing-keys'
import { median, ms, quantile } from '../bench/stats.ts'

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyResultV2>

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '40' },
    warmup: { type: 'string', default: '5' },
    'bcrypt-cost': { type: 'string', default: '12' },
    tolerance: { type: 'string', default: '10' },
  },
})
const ROUNDS = Math.max(30, Number(flags.rounds))
const WARMUP = Math.max(0, Number(flags.warmup))
const BCRYPT_COST = Number(flags['bcrypt-cost'])
const TOLERANCE = Number(flags.tolerance) / 100
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

const stack = await startLocalStack({ setup: 'migrations' })
let exitCode = 1
try {
  // Set before the handlers are imported: a function reads its configuration once, at cold start.
  Object.assign(process.env, stack.databaseEnv, {
    JWT_SIGNING_KEYS: JSON.stringify(newSigningKeySet(new Date())),
    BCRYPT_COST: String(BCRYPT_COST),
  })
  const [{ handler: register }, { handler: login }, { handler: token }] = (await Promise.all([
    import('#functions/register'),
    import('#functions/login'),
    import('#functions/token'),
  ])) as { handler: Handler }[] as [{ handler: Handler }, { handler: Handler }, { handler: Handler }]

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
  progress(`registering ${accountsNeeded} accounts (bcrypt cost ${BCRYPT_COST})…`)
  const accounts: { email: string; failures: number }[] = []
  for (let i = 0; i < accountsNeeded; i++) {
    const email = freshEmail('known')
    const answer = await invoke(
      register,
      event('/api/v1/auth/register', JSON.stringify({ email, password: PASSWORD }), 'application/json'),
    )
    if (answer.statusCode !== 201) throw new Error(`register answered ${answer.statusCode}: ${answer.body}`)
    accounts.push({ email, failures: 0 })
  }
  const wrongPasswordAccount = () => {
    const account = accounts.find((candidate) => candidate.failures < FAILURES_PER_ACCOUNT)
    if (!account) throw new Error('out of accounts')
    account.failures++
    return account.email
  }

  type Kind =
    | 'login, unknown email'
    | 'login, wrong password'
    | 'token, unknown email'
    | 'token, wrong password'
  const kinds: Kind[] = [
    'login, unknown email',
    'login, wrong password',
    'token, unknown email',
    'token, wrong password',
  ]
  const request = (kind: Kind) => {
    // A new email for every unknown-email attempt: one address never collects enough failures to lock.
    const email = kind.endsWith('unknown email') ? freshEmail('unknown') : wrongPasswordAccount()
    const password = kind.endsWith('unknown email') ? PASSWORD : 'a wrong password'
    return kind.startsWith('login')
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
  const answers = new Map<Kind, Set<string>>(kinds.map((kind) => [kind, new Set()]))
  progress(`${WARMUP} + ${ROUNDS} rounds of the four requests, in a new random order each round…`)
  for (let round = 0; round < WARMUP + ROUNDS; round++) {
    const order = shuffled(kinds)
    for (const kind of order) {
      const { handler, event: built } = request(kind)
      const answer = await invoke(handler, built)
      // Everything a client sees, header names and values included; a request id would differ, none is sent.
      const headers = Object.entries(answer.headers).sort(([a], [b]) => a.localeCompare(b))
      answers.get(kind)?.add(JSON.stringify({ status: answer.statusCode, headers, body: answer.body }))
      if (round >= WARMUP) timings.get(kind)?.push(answer.ms)
    }
  }

  const rows: string[] = []
  let allMet = true
  for (const endpoint of ['login', 'token'] as const) {
    const unknown = timings.get(`${endpoint}, unknown email`) ?? []
    const wrong = timings.get(`${endpoint}, wrong password`) ?? []
    const [a, b] = [median(unknown), median(wrong)]
    const ratio = Math.max(a, b) / Math.min(a, b)
    const same = [...(answers.get(`${endpoint}, unknown email`) ?? [])]
    const other = [...(answers.get(`${endpoint}, wrong password`) ?? [])]
    const identical = same.length === 1 && other.length === 1 && same[0] === other[0]
    const met = ratio <= 1 + TOLERANCE && identical
    allMet &&= met
    const status = same[0] ? (JSON.parse(same[0]) as { status: number }).status : 'n/a'
    rows.push(
      `| ${endpoint} | ${ms(a)} (${ms(quantile(unknown, 0.25))}–${ms(quantile(unknown, 0.75))}) | ` +
        `${ms(b)} (${ms(quantile(wrong, 0.25))}–${ms(quantile(wrong, 0.75))}) | ${ratio.toFixed(3)} | ` +
        `${identical ? `identical (${status})` : `**differ**: ${same.length}+${other.length} distinct`} | ${met ? 'yes' : '**no**'} |`,
    )
  }
  const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.version}`
  report(
    [
      '## Login timing: unknown email against wrong password',
      '',
      `${machine}; load average ${loadBefore.toFixed(2)} before, ${(loadavg()[0] ?? 0).toFixed(2)} after.`,
      `bcrypt cost ${BCRYPT_COST}; ${ROUNDS} rounds after ${WARMUP} of warm-up, each round the four requests in a new random order, ` +
        `one at a time, through the real handlers (API Gateway events) on an embedded PostgreSQL; ` +
        `a new email for every unknown-email request, ${FAILURES_PER_ACCOUNT} failures at most per registered account.`,
      '',
      '| endpoint | unknown email: median (p25–p75) | wrong password: median (p25–p75) | slower / faster | responses | within ' +
        `${(TOLERANCE * 100).toFixed(0)}% |`,
      '| --- | --- | --- | --- | --- | --- |',
      ...rows,
      '',
    ].join('\n'),
  )
  exitCode = allMet ? 0 : 1
} finally {
  await stack.stop()
}
// The handlers' pool would keep the process alive; everything it reached is gone now.
process.exit(exitCode)
