import { Agent, type IncomingHttpHeaders, request } from 'node:http'

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
/** What every virtual user does with a session: mostly reading the current user, with a rotation now and then. */
const SESSION: readonly Operation[] = [
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
 * Drives the API with `concurrency` virtual users until the duration has passed. Each registers an account every
 * other round (from a new connection and the next of 248 loopback source addresses, as distinct clients would),
 * logs in (by `login` or the token endpoint's password grant), uses the session (`SESSION`), and logs out; one
 * round in four adds a wrong password, another an unknown email. With `abuse`, abusers run beside them. Loopback
 * traffic only; every loop is bounded.
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const outcomes: Outcome[] = []
  const created: LoadResult['created'] = []
  const loggedOut: string[] = []
  // One pool of kept-alive connections per source address: each virtual user keeps one connection of its own.
  const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY })
  const running = () => options.clock() < options.durationMs
  let registrations = 0
  let unknownEmails = 0

  let staleConnectionRetries = 0
  const send = (
    localAddress: string,
    keepAlive: boolean,
    method: string,
    path: string,
    body?: { type: 'json' | 'form'; value: Record<string, string> },
    authorization?: string,
  ): Promise<Answer> => {
    const payload =
      body === undefined
        ? undefined
        : body.type === 'json'
          ? JSON.stringify(body.value)
          : new URLSearchParams(body.value).toString()
    const headers: Record<string, string> = {}
    if (body) {
      headers['content-type'] =
        body.type === 'json' ? 'application/json' : 'application/x-www-form-urlencoded'
    }
    if (authorization) headers.authorization = authorization
    const attempt = (mayRetry: boolean) =>
      new Promise<Answer>((resolve) => {
        let responded = false
        const outgoing = request(
          `${options.base}${path}`,
          {
            method,
            headers,
            localAddress,
            agent: keepAlive ? agent : false,
            timeout: options.requestTimeoutMs,
          },
          (response) => {
            responded = true
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
          },
        )
        outgoing.on('timeout', () => outgoing.destroy(new Error('client timeout')))
        outgoing.on('error', (error) => {
          // The server may close an idle kept-alive connection just as a request goes out on it; it never read
          // that request, so sending it again is safe (Node's documented remedy). Counted, and done once.
          const stale =
            outgoing.reusedSocket && !responded && /ECONNRESET|EPIPE|socket hang up/.test(reason(error))
          if (stale && mayRetry) {
            staleConnectionRetries++
            resolve(attempt(false))
            return
          }
          resolve({ status: 0, headers: {}, body: undefined, error: reason(error) })
        })
        outgoing.end(payload)
      })
    return attempt(true)
  }

  /** Sends one request of an operation and records its outcome; `valid` checks the body of the expected status. */
  const call = async (
    operation: Operation,
    request: () => Promise<Answer>,
    valid: (body: unknown) => boolean = () => true,
  ): Promise<Answer & { ok: boolean }> => {
    const startedMs = options.clock()
    const answer = await request()
    const accepted = answer.status === OPERATIONS[operation] || ALSO_FINE[operation]?.includes(answer.status)
    const ok = accepted === true && valid(answer.body)
    outcomes.push({
      operation,
      status: answer.status,
      startedMs,
      ms: options.clock() - startedMs,
      retryAfter: typeof answer.headers['retry-after'] === 'string',
      ok,
      error: answer.error,
    })
    return { ...answer, ok }
  }

  const register = async (): Promise<string | undefined> => {
    const n = registrations++
    const email = `load.${process.pid}.${n}.${Date.now().toString(36)}@example.com`
    const answer = await call(
      'register',
      () =>
        send(loopbackAddress(n), false, 'POST', '/auth/register', {
          type: 'json',
          value: { email, password: PASSWORD },
        }),
      (body) => (body as { email?: unknown } | undefined)?.email === email,
    )
    if (!answer.ok) return undefined
    created.push({ id: (answer.body as { id: number }).id, email })
    return email
  }

  const signIn = async (home: string, email: string, grant: boolean): Promise<Pair | undefined> => {
    const answer = grant
      ? await call(
          'token (password grant)',
          () =>
            send(home, true, 'POST', '/auth/token', {
              type: 'form',
              value: { username: email, password: PASSWORD },
            }),
          isPair,
        )
      : await call(
          'login',
          () =>
            send(home, true, 'POST', '/auth/login', { type: 'json', value: { email, password: PASSWORD } }),
          isPair,
        )
    if (!answer.ok || !isPair(answer.body)) return undefined
    return { access: answer.body.access_token, refresh: answer.body.refresh_token }
  }

  /** Runs the session's operations; false as soon as one fails (the session is then only logged out). */
  const useSession = async (home: string, pair: Pair): Promise<boolean> => {
    for (const operation of SESSION) {
      if (!running()) return true
      let answer: Answer & { ok: boolean }
      if (operation === 'me') {
        answer = await call('me', () =>
          send(home, true, 'GET', '/users/me', undefined, `Bearer ${pair.access}`),
        )
      } else if (operation === 'refresh') {
        answer = await call(
          'refresh',
          () =>
            send(home, true, 'POST', '/auth/refresh', {
              type: 'json',
              value: { refresh_token: pair.refresh },
            }),
          isPair,
        )
      } else {
        answer = await call(
          'token (refresh grant)',
          () =>
            send(home, true, 'POST', '/auth/token', {
              type: 'form',
              value: { grant_type: 'refresh_token', refresh_token: pair.refresh },
            }),
          isPair,
        )
      }
      if (!answer.ok) return false
      if (isPair(answer.body)) {
        pair.access = answer.body.access_token
        pair.refresh = answer.body.refresh_token
      }
    }
    return true
  }

  /** Logs out with the last refresh token the session holds (any member revokes the family); retried on a 503. */
  const logOut = async (home: string, pair: Pair) => {
    for (let attempt = 0; attempt < LOGOUT_ATTEMPTS; attempt++) {
      const answer = await call('logout', () =>
        send(home, true, 'POST', '/auth/logout', { type: 'json', value: { refresh_token: pair.refresh } }),
      )
      if (answer.ok) {
        loggedOut.push(pair.refresh)
        return
      }
      if (answer.status !== 503 && answer.status !== 0) return
      await backOff()
    }
  }

  const virtualUser = async (vu: number) => {
    const home = loopbackAddress(vu)
    let email: string | undefined
    for (let round = 0; running() && round < MAX_ITERATIONS; round++) {
      if (!email || round % 2 === 0) {
        // A refused registration (429 from the per-address limit, or 503) leaves the user on an account it has.
        email = (await register()) ?? email ?? created[Math.floor(Math.random() * created.length)]?.email
      }
      const account = email
      if (!account) {
        await backOff()
        continue
      }
      if (round % 4 === 1) {
        await call('login, wrong password', () =>
          send(home, true, 'POST', '/auth/login', {
            type: 'json',
            value: { email: account, password: WRONG_PASSWORD },
          }),
        )
      }
      if (round % 4 === 3) {
        const unknown = `nobody.${process.pid}.${unknownEmails++}@example.com`
        await call('login, unknown email', () =>
          send(home, true, 'POST', '/auth/login', {
            type: 'json',
            value: { email: unknown, password: PASSWORD },
          }),
        )
      }
      const pair = await signIn(home, account, round % 3 === 2)
      if (!pair) {
        await backOff()
        continue
      }
      const completed = await useSession(home, pair)
      await logOut(home, pair)
      if (!completed) await backOff()
    }
  }

  /**
   * A quarter into the run: one address registers again and again (3 at a time), and 5 guessers try wrong passwords
   * on one account at once, each past its limit; then the account's owner comes with the right password.
   */
  const abuse = async (limits: { registerLimit: number; maxFailures: number }) => {
    const floodAttempts = Math.min(limits.registerLimit + BEYOND_LIMIT, MAX_ABUSE_ATTEMPTS)
    const guesses = Math.min(limits.maxFailures + BEYOND_LIMIT, MAX_ABUSE_ATTEMPTS)
    await pause(options.durationMs / 4)
    let victim: string | undefined
    for (let attempt = 0; !victim && attempt < 10 && running(); attempt++) {
      victim = await register()
      if (!victim) await backOff()
    }
    let flooded = 0
    const flood = async () => {
      while (flooded < floodAttempts && running()) {
        const email = `flood.${process.pid}.${flooded++}@example.com`
        const answer = await call('register, flood from one address', () =>
          send(FLOOD_ADDRESS, false, 'POST', '/auth/register', {
            type: 'json',
            value: { email, password: PASSWORD },
          }),
        )
        if (answer.status === 201) created.push({ id: (answer.body as { id: number }).id, email })
        await pause(250)
      }
    }
    let guessed = 0
    const guess = async (guesser: number) => {
      while (victim && guessed < guesses && running()) {
        const password = `guess ${guessed++} by ${guesser}`
        await call('login, guessing one password', () =>
          send(loopbackAddress(guesser), true, 'POST', '/auth/login', {
            type: 'json',
            value: { email: victim, password },
          }),
        )
        await pause(100)
      }
    }
    await Promise.all([
      ...Array.from({ length: FLOOD_SENDERS }, flood),
      ...Array.from({ length: GUESSERS }, (_, guesser) => guess(guesser)),
    ])
    if (victim && guesses > limits.maxFailures && running()) {
      await call('login, locked account, right password', () =>
        send(loopbackAddress(0), true, 'POST', '/auth/login', {
          type: 'json',
          value: { email: victim, password: PASSWORD },
        }),
      )
    }
    return { floodAttempts, guesses, guessers: GUESSERS }
  }

  const started = options.clock()
  const [, abuseSize] = await Promise.all([
    Promise.all(Array.from({ length: options.concurrency }, (_, vu) => virtualUser(vu))),
    options.abuse ? abuse(options.abuse) : undefined,
  ])
  agent.destroy()
  return {
    outcomes,
    created,
    loggedOut,
    staleConnectionRetries,
    abuse: abuseSize,
    elapsedMs: options.clock() - started,
  }
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
