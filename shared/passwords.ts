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
  /** The stored hash is weaker than the current cost and should be replaced by `rehash`. */
  rehash?: string
}

export interface PasswordHasher {
  hash(password: string): Promise<string>
  /** Compares against `storedHash`, or against a dummy hash when there is no account: one compare either way. */
  verify(password: string, storedHash: string | null): Promise<PasswordCheck>
}

/** The one wrapper around bcryptjs. Accepts `$2a$`/`$2b$` hashes, so passlib's `$2b$12$…` hashes carry over. */
export function createPasswordHasher({ cost }: { cost: number }): PasswordHasher {
  const dummyHash = DUMMY_HASHES[cost]
  if (!dummyHash) throw new RangeError(`bcrypt cost must be 10 to 14, got ${cost}`)

  return {
    hash: (password) => bcrypt.hash(password, cost),
    async verify(password, storedHash) {
      const hash = storedHash ?? dummyHash
      // No stored password is longer than 72 bytes, and bcrypt would compare only a prefix of a longer one; it
      // still costs the compare, so the answer takes the same time as any other wrong password.
      const tooLong = Buffer.byteLength(password, 'utf8') > PASSWORD_MAX_BYTES
      const matches = await bcrypt.compare(tooLong ? '' : password, hash).catch(() => false)
      if (!matches || tooLong || storedHash === null) return { ok: false }
      if (bcrypt.getRounds(storedHash) < cost) return { ok: true, rehash: await bcrypt.hash(password, cost) }
      return { ok: true }
    },
  }
}
