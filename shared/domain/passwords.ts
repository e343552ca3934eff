import bcrypt from 'bcryptjs'
import { PASSWORD_MAX_BYTES } from './schemas.ts'

/**
 * bcrypt hashes of random, discarded passwords, one per supported cost. A login for an unknown email is checked
 * against the one of the current cost, so it costs the same single compare as a wrong password.
 */
const DUMMY_HASHES: Readonly<Record<number, string>> = {
  10: '$2b$10$h1UAmcExMfDDMFi4Yd/x0.s3sCV3b3dju5NeFzAkr8hI5mF5J/2Wu',
  11: '$2b$11$4wvVM/IS1OKPqYLE3VwaMuOCq8Q7UL/YfmWGeNPTf1P.pmlVyXRUm',
  12: '$2b$12$5yQ1SRW7ot5gFtL3Ql1TIO6gXnXrEi66s/ecNLukylGZCP4yUaTIm',
  13: '$2b$13$fThz/TPdAAxjBeGVZBVIKuqVw5ZOO6HV2BrAuRc8h6ETGcBdkTd..',
  14: '$2b$14$XnWc7m.kiDPT.kg4jJ3bfusuVTfqP0nS53EQHY9FbiBsGzOy1eyNO',
}

export interface PasswordCheck {
  ok: boolean
  /** The stored hash is weaker than the current cost: hash the password again (only for an account that may log in). */
  needsRehash: boolean
}

export interface PasswordHasher {
  hash(password: string): Promise<string>
  /**
   * Compares against `storedHash`, or against a dummy hash when there is no account: one compare either way. With
   * `carriedOver` (a hash from the FastAPI backend), a password longer than 72 bytes is checked by its first 72
   * bytes, as passlib's bcrypt did when it made the hash; for every other hash such a password is simply wrong.
   */
  verify(
    password: string,
    storedHash: string | null,
    options?: { carriedOver?: boolean },
  ): Promise<PasswordCheck>
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

/** The one wrapper around bcryptjs. Accepts `$2a$`/`$2b$` hashes, so passlib's `$2b$12$…` hashes carry over. */
export function createPasswordHasher({ cost }: { cost: number }): PasswordHasher {
  const dummyHash = DUMMY_HASHES[cost]
  if (!dummyHash) throw new RangeError(`no dummy hash for bcrypt cost ${cost}`)

  const oneAtATime = serialQueue()
  const hash = (password: string) => oneAtATime(() => bcrypt.hash(password, cost))

  return {
    hash,
    async verify(password, storedHash, options = {}) {
      // No password this service stored is longer than 72 bytes, and bcrypt would compare only a prefix of a longer
      // one; it still costs the compare, so the answer takes the same time as any other wrong password. A carried-over
      // hash was made from such a prefix: bcryptjs reads the first 72 bytes, exactly as passlib's bcrypt did.
      const tooLong = Buffer.byteLength(password, 'utf8') > PASSWORD_MAX_BYTES && options.carriedOver !== true
      const candidate = tooLong ? '' : password
      const matches = await oneAtATime(() =>
        bcrypt.compare(candidate, storedHash ?? dummyHash).catch(() => false),
      )
      if (!matches || tooLong || storedHash === null) return { ok: false, needsRehash: false }
      return { ok: true, needsRehash: bcrypt.getRounds(storedHash) < cost }
    },
  }
}
