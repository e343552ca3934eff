import { Agent, type IncomingHttpHeaders, type IncomingMessage, request } from 'node:http'

/**
 * What a virtual user does, each with the one status that means it worked; then what the abusers do, each with the
 * status that means the defence engaged (`ALSO_FINE` lists what may come before it does).
 */
export const OPERATIONS = {
  register: 201,
  login: 200,
  'token (password grant)': 200,
  'login, wrong password': 401,
  'login, unknown email': 401,
  me: 200,
  refresh: 200,
  'token (refresh grant)': 200,
  logout: 204,
  'register, flood from one address': 429,
  'login, guessing one password': 429,
  'login, locked account, right password': 429,
} as const

export type Operation = keyof typeof OPERATIONS

const ALSO_FINE: Partial<Record<Operation, readonly number[]>> = {
  'register, flood from one address': [201],
  'login, guessing one password': [401],
}

export interface Outcome {
  operation: Operation
  /** 0 when no response came: a refused or reset connection, or the client's timeout. */
  status: number
  /** When the request was sent, in milliseconds since the run started. */
  startedMs: number
  ms: number
  retryAfter: boolean
  /** The operation's expected status, with a body of the expected shape. */
  ok: boolean
  /** Why no response came, when none did. */
  error?: string | undefined
}

export interface LoadOptions {
  base: string
  concurrency: number
  durationMs: number
  requestTimeoutMs: number
  /** Milliseconds since the run started; shared with whoever samples memory or injects faults. */
  clock: () => number
  /** The service's limits, to size the abuse that starts a quarter into the run; none when left out. */
  abuse?: { registerLimit: number; maxFailures: number } | undefined
}

export interface LoadResult {
  outcomes: Outcome[]
  /** Every 201 of the run: the account the service acknowledged. */
  created: { id: number; email: string }[]
  /** The refresh token of every 204 logout. */
  loggedOut: string[]
  /** Requests sent again because a kept-alive connection was found closed before it carried them. */
  staleConnectionRetries: number
  /** How the abuse was sized. */
  abuse?: { floodAttempts: number; guesses: number; guessers: number } | undefined
  elapsedMs: number
}

interface Answer {
  status: number
  headers: IncomingHttpHeaders
  body: unknown
  /** Why no response came (an error code or message), when none did. */
  error?: string
}

const LOOPBACK_SPREAD = 248
/** 127.0.0.2 to 127.0.0.249: the source addresses of the well-behaved clients. */
export const loopbackAddress = (n: number) => `127.0.0.${2 + (n % LOOPBACK_SPREAD)}`
/** The one address the registration flood comes from, used by nobody else. */
export const FLOOD_ADDRESS = '127.0.0.250'
const FLOOD_SENDERS = 3
const GUESSERS = 5
/** Attempts beyond each limit, so the limit is seen to engage; capped for a limit set very high. */
const BEYOND_LIMIT = 20
const MAX_ABUSE_ATTEMPTS = 60

const PASSWORD = 'load-run password 1'
const WRONG_PASSWORD = 'not the password'
const MAX_ITERATIONS = 1_000_000
const LOGOUT_ATTEMPTS = 3
type SessionOperation = 'me' | 'refresh' | 'token (refresh grant)'
/** What every virtual user does with a session: mostly reading the current user, with a rotation now and then. */
const SESSION: readonly SessionOperation[] = [
  'me',
  'refresh',
  'me',
  'me',
  'token (refresh grant)',
  'me',
  'me',
  'refresh',
]

const reason = (error: unknown) =>
  (error as { code?: unknown }).code?.toString() ?? (error instanceof Error ? error.message : String(error))
const pause = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds))
/** After a 503 or a dropped connection: sooner than the 5 s Retry-After, so the outage is probed throughout. */
const backOff = () => pause(500 + Math.random() * 500)

interface Pair {
  access: string
  refresh: string
}

const isPair = (body: unknown): body is { access_token: string; refresh_token: string } =>
  typeof body === 'object' &&
  body !== null &&
  typeof (body as { access_token?: unknown }).access_token === 'string' &&
  typeof (body as { refresh_token?: unknown }).refresh_token === 'string'

/**
 * What one run shares between its virtual users and its abusers: the options, the connections, what it has
 * recorded so far (the result, less its timing), and the counters that keep every email unique.
 */
interface Run {
  options: LoadOptions
  /** One pool of kept-alive connections per source address: each virtual user keeps one connection of its own. */
  agent: Agent
  ledger: Omit<LoadResult, 'abuse' | 'elapsedMs'>
  /** Registrations sent so far: each comes from the next loopback address. */
  registrations: number
  unknownEmails: number
}

const running = (run: Run) => run.options.clock() < run.options.durationMs

type RequestBody = { type: 'json' | 'form'; value: Record<string, string> }

/** The answer to a response: its status, headers and body (JSON when it parses, else the text). */
function readAnswer(response: IncomingMessage): Promise<Answer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    response.on('data', (chunk: Buffer) => chunks.push(chunk))
    response.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8')
      let parsed: unknown
      try {
        parsed = text === '' ? undefined : JSON.parse(text)
      } catch {
        parsed = text
      }
      resolve({ status: response.statusCode ?? 0, headers: response.headers, body: parsed })
    })
    response.on('error', (error) =>
      resolve({ status: 0, headers: {}, body: undefined, error: reason(error) }),
    )
  })
}

/**
 * Sends one request from `localAddress`, on a kept-alive connection of the run's or a new one; never rejects (no
 * response is status 0, with the reason).
 */
function send(
  run: Run,
  localAddress: string,
  keepAlive: boolean,
  method: string,
  path: string,
  body?: RequestBody,
  authorization?: string,
): Promise<Answer> {
  const payload =
    body === undefined
      ? undefined
      : body.type === 'json'
        ? JSON.stringify(body.value)
        : new URLSearchParams(body.value).toString()
  const headers: Record<string, string> = {}
  if (body) {
    headers['content-type'] = body.type === 'json' ? 'application/json' : 'application/x-www-form-urlencoded'
  }
  if (authorization) headers.authorization = authorization
  const attempt = (mayRetry: boolean) =>
    new Promise<Answer>((resolve) => {
      let responded = false
      const outgoing = request(
        `${run.options.base}${path}`,
        {
          method,
          headers,
          localAddress,
          agent: keepAlive ? run.agent : false,
          timeout: run.options.requestTimeoutMs,
        },
        (response) => {
          responded = true
          // Settled once the body is in: an error on the request before then still answers first.
          void readAnswer(response).then(resolve)
        },
      )
      outgoing.on('timeout', () => outgoing.destroy(new Error('client timeout')))
      outgoing.on('error', (error) => {
        // The server may close an idle kept-alive connection just as a request goes out on it; it never read
        // that request, so sending it again is safe (Node's documented remedy). Counted, and done once.
        const stale =
          outgoing.reusedSocket && !responded && /ECONNRESET|EPIPE|socket hang up/.test(reason(error))
        if (stale && mayRetry) {
          run.ledger.staleConnectionRetries++
          resolve(attempt(false))
          return
        }
        resolve({ status: 0, headers: {}, body: undefined, error: reason(error) })
      })
      outgoing.end(payload)
    })
  return attempt(true)
}

/** A JSON POST from `from`, on the kept-alive connection unless `keepAlive` is false. */
const postJson = (run: Run, from: string, path: string, value: Record<string, string>, keepAlive = true) =>
  send(run, from, keepAlive, 'POST', path, { type: 'json', value })

/** A form POST from `from`, on the kept-alive connection. */
const postForm = (run: Run, from: string, path: string, value: Record<string, string>) =>
  send(run, from, true, 'POST', path, { type: 'form', value })

/** Sends one request of an operation and records its outcome; `valid` checks the body of the expected status. */
async function call(
  run: Run,
  operation: Operation,
  sendRequest: () => Promise<Answer>,
  valid: (body: unknown) => boolean = () => true,
): Promise<Answer & { ok: boolean }> {
  const startedMs = run.options.clock()
  const answer = await sendRequest()
  const accepted = answer.status === OPERATIONS[operation] || ALSO_FINE[operation]?.includes(answer.status)
  const ok = accepted === true && valid(answer.body)
  run.ledger.outcomes.push({
    operation,
    status: answer.status,
    startedMs,
    ms: run.options.clock() - startedMs,
    retryAfter: typeof answer.headers['retry-after'] === 'string',
    ok,
    error: answer.error,
  })
  return { ...answer, ok }
}

/** Registers a new account from a new connection and the next loopback address; its email, when it was created. */
async function register(run: Run): Promise<string | undefined> {
  const n = run.registrations++
  const email = `load.${process.pid}.${n}.${Date.now().toString(36)}@example.com`
  const answer = await call(
    run,
    'register',
    () => postJson(run, loopbackAddress(n), '/auth/register', { email, password: PASSWORD }, false),
    (body) => (body as { email?: unknown } | undefined)?.email === email,
  )
  if (!answer.ok) return undefined
  run.ledger.created.push({ id: (answer.body as { id: number }).id, email })
  return email
}

/** Logs in with `login`, or with the token endpoint's password grant when `grant`. */
async function signIn(run: Run, home: string, email: string, grant: boolean): Promise<Pair | undefined> {
  const answer = grant
    ? await call(
        run,
        'token (password grant)',
        () => postForm(run, home, '/auth/token', { username: email, password: PASSWORD }),
        isPair,
      )
    : await call(
        run,
        'login',
        () => postJson(run, home, '/auth/login', { email, password: PASSWORD }),
        isPair,
      )
  if (!answer.ok || !isPair(answer.body)) return undefined
  return { access: answer.body.access_token, refresh: answer.body.refresh_token }
}

/** The request of each step of a session. */
const SESSION_REQUESTS: Record<SessionOperation, (run: Run, home: string, pair: Pair) => Promise<Answer>> = {
  me: (run, home, pair) => send(run, home, true, 'GET', '/users/me', undefined, `Bearer ${pair.access}`),
  refresh: (run, home, pair) => postJson(run, home, '/auth/refresh', { refresh_token: pair.refresh }),
  'token (refresh grant)': (run, home, pair) =>
    postForm(run, home, '/auth/token', { grant_type: 'refresh_token', refresh_token: pair.refresh }),
}

/** Runs the session's operations; false as soon as one fails (the session is then only logged out). */
async function useSession(run: Run, home: string, pair: Pair): Promise<boolean> {
  for (const operation of SESSION) {
    if (!running(run)) return true
    const answer = await call(
      run,
      operation,
      () => SESSION_REQUESTS[operation](run, home, pair),
      operation === 'me' ? undefined : isPair,
    )
    if (!answer.ok) return false
    if (isPair(answer.body)) {
      pair.access = answer.body.access_token
      pair.refresh = answer.body.refresh_token
    }
  }
  return true
}

/** Logs out with the last refresh token the session holds (any token of a session ends all of it); retried on a 503. */
async function logOut(run: Run, home: string, pair: Pair): Promise<void> {
  for (let attempt = 0; attempt < LOGOUT_ATTEMPTS; attempt++) {
    const answer = await call(run, 'logout', () =>
      postJson(run, home, '/auth/logout', { refresh_token: pair.refresh }),
    )
    if (answer.ok) {
      run.ledger.loggedOut.push(pair.refresh)
      return
    }
    if (answer.status !== 503 && answer.status !== 0) return
    await backOff()
  }
}

/**
 * One virtual user's journey, round after round until the run ends: a new account every other round (a refused
 * one leaves it on the account it has), a wrong password one round in four and an unknown email another, then a
 * login, the session, and the logout.
 */
async function virtualUser(run: Run, vu: number): Promise<void> {
  const home = loopbackAddress(vu)
  const { created } = run.ledger
  let email: string | undefined
  for (let round = 0; running(run) && round < MAX_ITERATIONS; round++) {
    if (!email || round % 2 === 0) {
      // A refused registration (429 from the per-address limit, or 503) leaves the user on an account it has.
      email = (await register(run)) ?? email ?? created[Math.floor(Math.random() * created.length)]?.email
    }
    const account = email
    if (!account) {
      await backOff()
      continue
    }
    if (round % 4 === 1) {
      await call(run, 'login, wrong password', () =>
        postJson(run, home, '/auth/login', { email: account, password: WRONG_PASSWORD }),
      )
    }
    if (round % 4 === 3) {
      const unknown = `nobody.${process.pid}.${run.unknownEmails++}@example.com`
      await call(run, 'login, unknown email', () =>
        postJson(run, home, '/auth/login', { email: unknown, password: PASSWORD }),
      )
    }
    const pair = await signIn(run, home, account, round % 3 === 2)
    if (!pair) {
      await backOff()
      continue
    }
    const completed = await useSession(run, home, pair)
    await logOut(run, home, pair)
    if (!completed) await backOff()
  }
}

/** `FLOOD_SENDERS` senders at once register from `FLOOD_ADDRESS`, 250 ms apart, until `attempts` in all. */
async function registrationFlood(run: Run, attempts: number): Promise<void> {
  let flooded = 0
  const sender = async () => {
    while (flooded < attempts && running(run)) {
      const email = `flood.${process.pid}.${flooded++}@example.com`
      const answer = await call(run, 'register, flood from one address', () =>
        postJson(run, FLOOD_ADDRESS, '/auth/register', { email, password: PASSWORD }, false),
      )
      if (answer.status === 201) run.ledger.created.push({ id: (answer.body as { id: number }).id, email })
      await pause(250)
    }
  }
  await Promise.all(Array.from({ length: FLOOD_SENDERS }, sender))
}

/** `GUESSERS` guessers at once try wrong passwords on `victim`'s account, 100 ms apart, until `guesses` in all. */
async function concurrentGuessers(run: Run, victim: string | undefined, guesses: number): Promise<void> {
  let guessed = 0
  const guesser = async (n: number) => {
    while (victim && guessed < guesses && running(run)) {
      const password = `guess ${guessed++} by ${n}`
      await call(run, 'login, guessing one password', () =>
        postJson(run, loopbackAddress(n), '/auth/login', { email: victim, password }),
      )
      await pause(100)
    }
  }
  await Promise.all(Array.from({ length: GUESSERS }, (_, n) => guesser(n)))
}

/**
 * A quarter into the run: one address registers again and again (3 at a time), and 5 guessers try wrong passwords
 * on one account at once, each past its limit; then the account's owner comes with the right password.
 */
async function abuse(
  run: Run,
  limits: { registerLimit: number; maxFailures: number },
): Promise<LoadResult['abuse']> {
  const floodAttempts = Math.min(limits.registerLimit + BEYOND_LIMIT, MAX_ABUSE_ATTEMPTS)
  const guesses = Math.min(limits.maxFailures + BEYOND_LIMIT, MAX_ABUSE_ATTEMPTS)
  await pause(run.options.durationMs / 4)
  let victim: string | undefined
  for (let attempt = 0; !victim && attempt < 10 && running(run); attempt++) {
    victim = await register(run)
    if (!victim) await backOff()
  }
  await Promise.all([registrationFlood(run, floodAttempts), concurrentGuessers(run, victim, guesses)])
  if (victim && guesses > limits.maxFailures && running(run)) {
    const owner = victim
    await call(run, 'login, locked account, right password', () =>
      postJson(run, loopbackAddress(0), '/auth/login', { email: owner, password: PASSWORD }),
    )
  }
  return { floodAttempts, guesses, guessers: GUESSERS }
}

/**
 * Drives the API with `concurrency` virtual users until the duration has passed. Each registers an account every
 * other round (from a new connection and the next of 248 loopback source addresses, as distinct clients would),
 * logs in (by `login` or the token endpoint's password grant), uses the session (`SESSION`), and logs out; one
 * round in four adds a wrong password, another an unknown email. With `abuse`, abusers run beside them. Loopback
 * traffic only; every loop is bounded.
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const run: Run = {
    options,
    agent: new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY }),
    ledger: { outcomes: [], created: [], loggedOut: [], staleConnectionRetries: 0 },
    registrations: 0,
    unknownEmails: 0,
  }
  const started = options.clock()
  const [, abuseSize] = await Promise.all([
    Promise.all(Array.from({ length: options.concurrency }, (_, vu) => virtualUser(run, vu))),
    options.abuse ? abuse(run, options.abuse) : undefined,
  ])
  run.agent.destroy()
  return { ...run.ledger, abuse: abuseSize, elapsedMs: options.clock() - started }
}

/**
 * Presents the refresh token of every acknowledged logout to `/auth/refresh`, `concurrency` at a time: each must be
 * refused with 401. Returns the statuses that were anything else.
 */
export async function refusedAfterLogout(
  base: string,
  tokens: readonly string[],
  concurrency: number,
): Promise<{ checked: number; notRefused: number[] }> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency })
  const notRefused: number[] = []
  let next = 0
  const worker = async () => {
    while (next < tokens.length) {
      const token = tokens[next++] as string
      const status = await new Promise<number>((resolve) => {
        const outgoing = request(
          `${base}/auth/refresh`,
          { method: 'POST', agent, headers: { 'content-type': 'application/json' }, timeout: 30_000 },
          (response) => {
            response.resume()
            response.on('end', () => resolve(response.statusCode ?? 0))
          },
        )
        outgoing.on('timeout', () => outgoing.destroy(new Error('client timeout')))
        outgoing.on('error', () => resolve(0))
        outgoing.end(JSON.stringify({ refresh_token: token }))
      })
      if (status !== 401) notRefused.push(status)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  agent.destroy()
  return { checked: tokens.length, notRefused }
}
