/**
 * The access tokens' signing keys: a set of three RSA keys kept in one secret. `current` signs; `next` is already
 * published, so every cache (API Gateway keeps a JWKS for up to two hours) knows it long before it signs; `previous`
 * stays published after it stops signing, until every token it signed has expired. A rotation moves each key one
 * place along and makes a new `next`. Only `current` and `next` keep a private key: `previous` will never sign
 * again, so the set keeps its public half alone, and a set read with one drops it.
 */
import { createHash, generateKeyPairSync } from 'node:crypto'
import * as v from 'valibot'

export const SIGNING_ALGORITHM = 'RS256'
const MODULUS_BITS = 2048

/** A public key as JWKS publishes it (RFC 7517), with its id and use. */
export interface PublicJwk {
  kty: 'RSA'
  n: string
  e: string
  kid: string
  alg: typeof SIGNING_ALGORITHM
  use: 'sig'
}

export interface SigningKey {
  kid: string
  /** PKCS#8 PEM. Only in the key-set secret, never in a log, an output or a response. */
  privateKey: string
  publicJwk: PublicJwk
  /** ISO 8601; when the key was made, and so first published. */
  createdAt: string
}

/** A key that signs no more: its public half, published until the last token it signed has expired. */
export type RetiredKey = Omit<SigningKey, 'privateKey'>

export interface SigningKeySet {
  current: SigningKey
  next: SigningKey
  previous: RetiredKey | null
}

/** A key's public half, field by field: whatever else the key holds (its private key) is left behind. */
const retire = ({ kid, publicJwk, createdAt }: RetiredKey): RetiredKey => ({ kid, publicJwk, createdAt })

/** A new RSA key; its id is its RFC 7638 thumbprint, so the same key always has the same id. */
export function generateSigningKey(now: Date): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: MODULUS_BITS })
  const { n, e } = publicKey.export({ format: 'jwk' }) as { n: string; e: string }
  const kid = createHash('sha256')
    .update(JSON.stringify({ e, kty: 'RSA', n }))
    .digest('base64url')
  return {
    kid,
    privateKey: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicJwk: { kty: 'RSA', n, e, kid, alg: SIGNING_ALGORITHM, use: 'sig' },
    createdAt: now.toISOString(),
  }
}

/** The first key set: a key to sign with and the next one, already published. */
export const newSigningKeySet = (now: Date): SigningKeySet => ({
  current: generateSigningKey(now),
  next: generateSigningKey(now),
  previous: null,
})

export class EarlyRotationError extends Error {
  override readonly name = 'EarlyRotationError'
}

/** What a rotation waits for, from the moment the last one made the next key (the timing is `shared/platform`'s). */
export interface RotationWaits {
  /** The next key must have been published this long before it signs: every cache of the published keys has it. */
  readonly publicationMs: number
  /** The key the last rotation retired may have live tokens this long after: it is withdrawn only then. */
  readonly retiredTokensMs: number
}

/**
 * The set after one rotation: `next` signs, `current` stays published as `previous` (its public half: it will never
 * sign again, so its private key goes), a new `next` is made, and the last `previous` is withdrawn. `next` was made
 * by the last rotation, which retired `previous`; so this one is refused until `next` has been published for
 * `waits.publicationMs` (a cache may not know it yet) and `previous`'s tokens have all expired (`waits.retiredTokensMs`).
 */
export function rotateSigningKeys(set: SigningKeySet, now: Date, waits: RotationWaits): SigningKeySet {
  const madeAt = Date.parse(set.next.createdAt)
  const publishedFor = now.getTime() - madeAt
  // Without a `previous` (the first set), no key is withdrawn, and no token outlives its key.
  const wait = Math.max(waits.publicationMs, set.previous ? waits.retiredTokensMs : 0)
  if (publishedFor < wait) {
    const ready = new Date(madeAt + wait).toISOString()
    const why =
      publishedFor < waits.publicationMs
        ? 'a cache may not have it yet'
        : `tokens signed by the key it retired (${set.previous?.kid}) may still be live`
    throw new EarlyRotationError(
      `the next signing key was published at ${set.next.createdAt}; ${why}: rotate after ${ready}`,
    )
  }
  return { current: set.next, next: generateSigningKey(now), previous: retire(set.current) }
}

/** Every key a verifier must know: the one that signs, the next one, and the last one while its tokens live. */
export const publishedKeys = (set: SigningKeySet): PublicJwk[] =>
  [set.current, set.next, set.previous].flatMap((key) => (key ? [key.publicJwk] : []))

const PublicJwkSchema = v.object({
  kty: v.literal('RSA'),
  n: v.string(),
  e: v.string(),
  kid: v.string(),
  alg: v.literal(SIGNING_ALGORITHM),
  use: v.literal('sig'),
})
const SigningKeySchema = v.object({
  kid: v.string(),
  privateKey: v.pipe(v.string(), v.startsWith('-----BEGIN PRIVATE KEY-----')),
  publicJwk: PublicJwkSchema,
  createdAt: v.pipe(v.string(), v.isoTimestamp()),
})
// An object schema keeps only the entries it names: a `previous` written with its private key (by a version before
// this one) is read without it.
const RetiredKeySchema = v.object({
  kid: v.string(),
  publicJwk: PublicJwkSchema,
  createdAt: v.pipe(v.string(), v.isoTimestamp()),
})
const SigningKeySetSchema = v.object({
  current: SigningKeySchema,
  next: SigningKeySchema,
  previous: v.nullable(RetiredKeySchema),
})
const PublishedKeysSchema = v.object({ keys: v.pipe(v.array(PublicJwkSchema), v.minLength(1)) })

/** A key set read from its secret (or an inline setting); `undefined` when it is not one (a placeholder). */
export function parseSigningKeySet(text: string): SigningKeySet | undefined {
  try {
    const result = v.safeParse(SigningKeySetSchema, JSON.parse(text))
    return result.success ? result.output : undefined
  } catch {
    return undefined
  }
}

/** The published key set (`{"keys": [...]}`), as the JWKS endpoint serves it; `undefined` when it is not one. */
export function parsePublishedKeys(text: string): PublicJwk[] | undefined {
  try {
    const result = v.safeParse(PublishedKeysSchema, JSON.parse(text))
    return result.success ? result.output.keys : undefined
  } catch {
    return undefined
  }
}
