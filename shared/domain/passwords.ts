import bcrypt from 'bcryptjs'
import type { PasswordCostRepository } from './ports.ts'
import { PASSWORD_MAX_BYTES } from './schemas.ts'

/**
 * bcrypt hashes of random, discarded passwords, one per cost from bcrypt's least to the highest `BCRYPT_COST` may
 * be. A check pays with them what the stored hash does not: an unknown email compares against the one of the target
 * cost, an account whose hash is cheaper adds those of the costs between (see `createPasswordHasher`).
 */
const DUMMY_HASHES: Readonly<Record<number, string>> = {
  4: '$2b$04$YbS.g/hlEjLFZLwuOF031u4vVP5ywLQssjgsyvWuO6LFnsSz8RG8G',
  5: '$2b$05$U3aG83B.bO9op9cZt2vi7OEyaoOxrHlSQXm3dvC8CySWSA7pJ1TAO',
  6: '$2b$06$kNgXxU5aBUPt1RRTJCazTeVSNUL9f5ctLJUqnqFaoP4Hd6dU8YzV.',
  7: '$2b$07$b1jOPkSX4N3O23PMAUsWVOHvbPQllzmdaChZv8YLPC0FdVGgBt4bu',
  8: '$2b$08$jk9z6fD2A4CYSlDglWzd8..Qo.STnBTSRAKxyq.fvl2B4Q3NRlE3m',
  9: '$2b$09$zfx0ZjbgZUhqMJ05a8HqCuov3QbUG1gHM.c3GT0IZ/laqvrTGnpm2',
  10: '$2b$10$h1UAmcExMfDDMFi4Yd/x0.s3sCV3b3dju5NeFzAkr8hI5mF5J/2Wu',
  11: '$2b$11$4wvVM/IS1OKPqYLE3VwaMuOCq8Q7UL/YfmWGeNPTf1P.pmlVyXRUm',
  12: '$2b$12$5yQ1SRW7ot5gFtL3Ql1TIO6gXnXrEi66s/ecNLukylGZCP4yUaTIm',
  13: '$2b$13$fThz/TPdAAxjBeGVZBVIKuqVw5ZOO6HV2BrAuRc8h6ETGcBdkTd..',
  14: '$2b$14$XnWc7m.kiDPT.kg4jJ3bfusuVTfqP0nS53EQHY9FbiBsGzOy1eyNO',
}

/** The costs `DUMMY_HASHES` covers: a check never costs more than a compare at `max`. */
export const DUMMY_COSTS = { min: 4, max: 14 } as const

/** The dummy hash of `cost` (within `DUMMY_COSTS`), for the tests that prove each is a real hash of its cost. */
export const dummyHash = (cost: number): string | undefined => DUMMY_HASHES[cost]

/**
 * A hash bcryptjs compares in full: `$2a$`, `$2b$` or `$2y$`, a cost bcrypt accepts, 53 characters of its alphabet.
 * bcryptjs answers at once, without the work, for another prefix, cost or length; a hash of this shape but for a stray
 * character it would still compare, in vain (it can equal no hash it makes): here it counts as no hash, whose check
 * costs the dummy of the target cost, the same work. The pattern of `PASSWORD_COST_PATTERN` in `db/schema.ts`, which
 * indexes the stored costs.
 */
const FULL_BCRYPT = /^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$/

/** The cost of a hash bcryptjs compares in full; null for any other string (nothing to compare: a dummy pays). */
export function costOf(hash: string): number | null {
  const cost = FULL_BCRYPT.exec(hash)?.[1]
  return cost === undefined ? null : Number(cost)
}

/** How long a container trusts the highest stored cost it read before it reads it again. */
export const STORED_COST_TTL_MS = 5 * 60_000

export interface PasswordCheck {
  ok: boolean
  /** The stored hash has another cost than the current one: hash the password again (for an account that may log in). */
  needsRehash: boolean
}

export interface PasswordHasher {
  hash(password: string): Promise<string>
  /**
   * Compares against `storedHash`, or against a dummy hash when there is no account, and pays with dummy compares
   * what the stored hash is cheaper than the target cost: the same bcrypt work whatever the account and the outcome.
   * With `carriedOver` (a hash from the FastAPI backend), a password longer than 72 bytes is checked by its first 72
   * bytes, as passlib's bcrypt did when it made the hash; for every other hash such a password is simply wrong.
   */
  verify(
    password: string,
    storedHash: string | null,
    options?: { carriedOver?: boolean },
  ): Promise<PasswordCheck>
}

/** What a function's container gives the hasher. */
export interface PasswordHasherSettings {
  /** `BCRYPT_COST`: new hashes are made at it, and no check costs less than one compare at it. */
  cost: number
  /** Where the highest cost among the stored hashes is read; without it, only the hashes this hasher met count. */
  storedCosts?: PasswordCostRepository
  /** Milliseconds on a monotonic clock, for the age of the highest stored cost read. */
  now?: () => number
}

/**
 * The highest stored cost, as last read. The first check waits for the first read; after `STORED_COST_TTL_MS` a
 * check starts the next read and goes on with the value it has (the read overlaps its compare, so no check waits for
 * it). One read at a time, whatever the number of checks; a stored hash a check meets above it raises it at once. A
 * failed read keeps the last value (the next check tries again); with none yet, the check fails as the database's
 * statements do.
 */
function highestStoredCost(source: PasswordCostRepository | undefined, now: () => number) {
  let highest: number | null = null
  let readAt: number | null = null
  let reading: Promise<void> | undefined
  const read = async () => {
    try {
      highest = await (source as PasswordCostRepository).highestStoredCost()
      readAt = now()
    } catch (error) {
      if (readAt === null) throw error
    } finally {
      reading = undefined
    }
  }
  return {
    async current(): Promise<number | null> {
      if (source && (readAt === null || now() - readAt >= STORED_COST_TTL_MS)) reading ??= read()
      if (readAt === null) await reading
      return highest
    },
    met(cost: number) {
      highest = Math.max(highest ?? cost, cost)
    },
  }
}

/**
 * Runs tasks one at a time, in arrival order. bcryptjs computes on the event loop in 100 ms slices; with many
 * hashes in flight in one process (the local server, tests) every turn of the loop waits for a slice of each, so
 * database handshakes starve and time out. One at a time, a turn waits for one slice at most; throughput is the
 * same, as bcryptjs uses one core whatever the concurrency. In Lambda (one request per container) it is a no-op.
 */
function serialQueue() {
  let tail: Promise<unknown> = Promise.resolve()
  return <T>(task: () => Promise<T>): Promise<T> => {
    const run = tail.then(task, task)
    tail = run.catch(() => {})
    return run
  }
}

/**
 * The one wrapper around bcryptjs. Accepts `$2a$`/`$2b$`/`$2y$` hashes, so passlib's `$2b$12$…` hashes carry over.
 *
 * Every check costs the bcrypt work of one compare at the target cost T, the highest of `cost` and the stored hashes'
 * costs (at most `DUMMY_COSTS.max`), whatever the account and the outcome: an unknown email (or a stored string
 * bcrypt does not compare) compares against the dummy hash of cost T; an account whose hash has cost c < T compares
 * against it, then against the dummies of costs c, c+1, …, T−1, and 2^c + (2^c + … + 2^(T−1)) = 2^T. So neither
 * a change of `BCRYPT_COST` nor carried-over hashes tell an unknown email from an account by the time of its answer.
 */
export function createPasswordHasher({
  cost,
  storedCosts,
  now = () => performance.now(),
}: PasswordHasherSettings): PasswordHasher {
  if (cost < DUMMY_COSTS.min || cost > DUMMY_COSTS.max)
    throw new RangeError(`no dummy hash for bcrypt cost ${cost}`)

  const oneAtATime = serialQueue()
  const hash = (password: string) => oneAtATime(() => bcrypt.hash(password, cost))
  const highest = highestStoredCost(storedCosts, now)
  const dummyCompare = (password: string, dummyCost: number) =>
    bcrypt.compare(password, DUMMY_HASHES[dummyCost] as string).catch(() => false)

  return {
    hash,
    async verify(password, storedHash, options = {}) {
      const storedCost = storedHash === null ? null : costOf(storedHash)
      if (storedCost !== null) highest.met(storedCost)
      const target = Math.min(DUMMY_COSTS.max, Math.max(cost, (await highest.current()) ?? cost))
      // No password this service stored is longer than 72 bytes, and bcrypt would compare only a prefix of a longer
      // one; it still costs the compare, so the answer takes the same time as any other wrong password. A carried-over
      // hash was made from such a prefix: bcryptjs reads the first 72 bytes, exactly as passlib's bcrypt did.
      const tooLong = Buffer.byteLength(password, 'utf8') > PASSWORD_MAX_BYTES && options.carriedOver !== true
      const candidate = tooLong ? '' : password
      const matches = await oneAtATime(async () => {
        if (storedHash === null || storedCost === null) return dummyCompare(candidate, target)
        const result = await bcrypt.compare(candidate, storedHash).catch(() => false)
        // Right or wrong alike: what the stored hash was cheaper than the target, in dummy compares.
        for (let padding = storedCost; padding < target; padding++) await dummyCompare(candidate, padding)
        return result
      })
      if (!matches || tooLong || storedCost === null) return { ok: false, needsRehash: false }
      return { ok: true, needsRehash: storedCost !== cost }
    },
  }
}
