import { createHash, createPublicKey, type KeyObject, randomBytes, randomUUID, verify } from 'node:crypto'
import {
  type CryptoKey,
  compactVerify,
  decodeProtectedHeader,
  importJWK,
  importPKCS8,
  type JWK,
  SignJWT,
} from 'jose'
import { InvalidTokenError } from './errors.ts'
import { isUuid } from './schemas.ts'
import { type PublicJwk, SIGNING_ALGORITHM, type SigningKeySet } from './signing-keys.ts'

const ACCESS_TOKEN_TYPE = 'at+jwt'
const REFRESH_TOKEN_BYTES = 32

export interface Clock {
  now(): Date
}

export const systemClock: Clock = { now: () => new Date() }

/** The keys a token service works with at one moment. */
export interface TokenKeys {
  /** The key set whose `current` key signs; absent in a function that only verifies. */
  signing?: SigningKeySet | undefined
  /** The published keys (current, next, previous): a token signed by any other key is refused. */
  published: readonly PublicJwk[]
}

export interface TokenSettings {
  /** The keys: fixed, or read again as the composition root sees fit (a rotation reaches warm containers). */
  keys: TokenKeys | (() => Promise<TokenKeys>)
  issuer: string
  audience: string
  /** The `client_id` claim (RFC 9068 §2.2): the client the tokens are issued to. */
  clientId: string
  accessTokenTtlSeconds: number
  refreshTokenTtlSeconds: number
  clock: Clock
}

export interface IssuedRefreshToken {
  token: string
  hash: string
  expiresAt: Date
}

/** Who an access token speaks for: the user, and the session (`sid`) it was issued in. */
export interface AccessTokenSubject {
  userId: number
  /** Null for a token that names no session. */
  sessionId: string | null
  /**
   * When the user last proved who they are: their session's login (OIDC's `auth_time`, whole seconds). Unset when
   * issuing, it is now (a login); a verified token without the claim (issued before it existed) has none.
   */
  authTime?: Date | null
  /** The user's address verified (OIDC's `email_verified`), when issuing; a verified token's claim is not read back. */
  emailVerified?: boolean
}

export interface TokenService {
  readonly accessTokenTtlSeconds: number
  issueAccessToken(subject: AccessTokenSubject): Promise<string>
  /** The subject of a valid access token; `InvalidTokenError` for anything else. */
  verifyAccessToken(token: string): Promise<AccessTokenSubject>
  issueRefreshToken(): IssuedRefreshToken
  hashRefreshToken(token: string): string
}

/** What is derived from one `TokenKeys`: the imported private key, the verifier's keys by `kid`. */
interface PreparedKeys {
  signer: Promise<{ kid: string; key: CryptoKey }> | undefined
  verifiers: ReadonlyMap<string, KeyObject>
}

function prepare(keys: TokenKeys): PreparedKeys {
  const { signing } = keys
  const signer = signing
    ? importPKCS8(signing.current.privateKey, SIGNING_ALGORITHM).then((key) => ({
        kid: signing.current.kid,
        key,
      }))
    : undefined
  // Surfaced when a token is signed; the promise must not reject unobserved meanwhile.
  signer?.catch(() => {})
  // Only a `kid` of the published set selects a key, and only an RS256 signing key; a `kid` published twice selects
  // none (jose's local JWKS refused it as ambiguous).
  const verifiers = new Map<string, KeyObject>()
  const seen = new Set<string>()
  for (const jwk of keys.published) {
    const usable =
      jwk.kty === 'RSA' &&
      (jwk.alg ?? SIGNING_ALGORITHM) === SIGNING_ALGORITHM &&
      (jwk.use ?? 'sig') === 'sig'
    if (seen.has(jwk.kid)) verifiers.delete(jwk.kid)
    else if (usable) {
      // A key Node cannot import verifies nothing, as jose refused its tokens; the others still serve.
      const key = importedOrUndefined(jwk)
      if (key) verifiers.set(jwk.kid, key)
    }
    seen.add(jwk.kid)
  }
  return { signer, verifiers }
}

function importedOrUndefined(jwk: PublicJwk): KeyObject | undefined {
  try {
    return createPublicKey({ key: { ...jwk }, format: 'jwk' })
  } catch {
    return undefined
  }
}

const BASE64URL = /^[A-Za-z0-9_-]*$/

/** A base64url JWS part as the JSON object it must be; anything else throws. */
function jsonObject(part: string): Record<string, unknown> {
  if (!BASE64URL.test(part)) throw new InvalidTokenError()
  const value: unknown = JSON.parse(
    new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(part, 'base64url')),
  )
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidTokenError()
  return value as Record<string, unknown>
}

/**
 * The claims of an access token the service signed, checked as jose's `jwtVerify` checked them (RS256 only, the
 * published key its `kid` names, `typ` at+jwt, no `crit`; `iss`, `aud`, `exp`, `iat`, `sub`, `jti` present; `iss`
 * and `aud` ours; `exp`, `nbf`, `iat` numbers, `exp` in the future and `nbf` not), with the signature checked by
 * Node's crypto on this thread. jose checks through WebCrypto, which hands each check to the libuv pool and back:
 * the round trip cost more CPU than the RSA check itself (npm start under wrk: ~50 µs per request, a fifth of the
 * server's CPU), and the same on a Lambda's warm path. Throws `InvalidTokenError` for anything else.
 */
function verifiedClaims(
  token: string,
  verifiers: ReadonlyMap<string, KeyObject>,
  expect: { issuer: string; audience: string; now: Date },
): Record<string, unknown> {
  const parts = token.split('.')
  if (parts.length !== 3) throw new InvalidTokenError()
  const [protectedHeader = '', payload = '', signature = ''] = parts
  const header = jsonObject(protectedHeader)
  if (header.alg !== SIGNING_ALGORITHM || header.crit !== undefined || header.b64 !== undefined)
    throw new InvalidTokenError()
  if (typeof header.typ !== 'string' || normalizeTyp(header.typ) !== normalizeTyp(ACCESS_TOKEN_TYPE))
    throw new InvalidTokenError()
  const key = typeof header.kid === 'string' ? verifiers.get(header.kid) : undefined
  if (!key || !BASE64URL.test(signature)) throw new InvalidTokenError()
  const signed = Buffer.from(`${protectedHeader}.${payload}`, 'ascii')
  if (!verify('sha256', signed, key, Buffer.from(signature, 'base64url'))) throw new InvalidTokenError()

  const claims = jsonObject(payload)
  for (const claim of ['iss', 'aud', 'exp', 'iat', 'sub', 'jti'])
    if (!Object.hasOwn(claims, claim)) throw new InvalidTokenError()
  const { iss, aud, exp, iat, nbf } = claims
  if (iss !== expect.issuer) throw new InvalidTokenError()
  if (!(aud === expect.audience || (Array.isArray(aud) && aud.includes(expect.audience))))
    throw new InvalidTokenError()
  const now = Math.floor(expect.now.getTime() / 1000)
  if (typeof iat !== 'number' || typeof exp !== 'number' || exp <= now) throw new InvalidTokenError()
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > now)) throw new InvalidTokenError()
  return claims
}

/** A `typ` as jose compares it: case-insensitive, `application/` implied. */
const normalizeTyp = (value: string) => {
  const lower = value.toLowerCase()
  return value.includes('/') ? lower : `application/${lower}`
}

/**
 * The one wrapper around jose: RFC 9068 access tokens (RS256, `typ: at+jwt`, the signing key's `kid`) and opaque
 * refresh tokens.
 */
export function createTokenService(settings: TokenSettings): TokenService {
  const seconds = (date: Date) => Math.floor(date.getTime() / 1000)
  const hashRefreshToken = (token: string) => createHash('sha256').update(token, 'utf8').digest('base64url')
  const prepared = new WeakMap<TokenKeys, PreparedKeys>()
  const keysNow = async (): Promise<PreparedKeys> => {
    const keys = typeof settings.keys === 'function' ? await settings.keys() : settings.keys
    let ready = prepared.get(keys)
    if (!ready) {
      ready = prepare(keys)
      prepared.set(keys, ready)
    }
    return ready
  }
  // Imports the private key now, at cold start, rather than in the first request.
  keysNow().catch(() => {})

  return {
    accessTokenTtlSeconds: settings.accessTokenTtlSeconds,

    async issueAccessToken({ userId, sessionId, authTime, emailVerified = false }) {
      const { signer } = await keysNow()
      // Never a default key: a function without the signing keys cannot sign at all.
      if (!signer) throw new Error('this function has no signing keys')
      const { kid, key } = await signer
      const issuedAt = seconds(settings.clock.now())
      return new SignJWT({
        client_id: settings.clientId,
        ...(sessionId ? { sid: sessionId } : {}),
        auth_time: authTime ? seconds(authTime) : issuedAt,
        email_verified: emailVerified,
      })
        .setProtectedHeader({ alg: SIGNING_ALGORITHM, typ: ACCESS_TOKEN_TYPE, kid })
        .setIssuer(settings.issuer)
        .setAudience(settings.audience)
        .setSubject(String(userId))
        .setIssuedAt(issuedAt)
        .setExpirationTime(issuedAt + settings.accessTokenTtlSeconds)
        .setJti(randomUUID())
        .sign(key)
    },

    async verifyAccessToken(token) {
      const { verifiers } = await keysNow()
      try {
        const payload = verifiedClaims(token, verifiers, {
          issuer: settings.issuer,
          audience: settings.audience,
          now: settings.clock.now(),
        })
        const userId = Number(payload.sub)
        if (!Number.isSafeInteger(userId) || userId <= 0 || String(userId) !== payload.sub) {
          throw new InvalidTokenError()
        }
        const { sid, auth_time: authTime } = payload
        if (sid !== undefined && (typeof sid !== 'string' || !isUuid(sid))) throw new InvalidTokenError()
        if (authTime !== undefined && !(Number.isSafeInteger(authTime) && (authTime as number) >= 0))
          throw new InvalidTokenError()
        return {
          userId,
          sessionId: sid ?? null,
          authTime: authTime === undefined ? null : new Date((authTime as number) * 1000),
        }
      } catch {
        // Whatever failed was the token's doing (its encoding, its JSON, its signature's length): the keys are ready.
        throw new InvalidTokenError()
      }
    },

    issueRefreshToken() {
      const token = randomBytes(REFRESH_TOKEN_BYTES).toString('base64url')
      const expiresAt = new Date(settings.clock.now().getTime() + settings.refreshTokenTtlSeconds * 1000)
      return { token, hash: hashRefreshToken(token), expiresAt }
    },

    hashRefreshToken,
  }
}

/**
 * Why API Gateway's JWT authorizer refuses a token: its own checks, in its order. It reads neither `typ` nor `sub`,
 * and it accepts any RSA algorithm the key allows.
 */
export type GatewayTokenRefusal =
  | 'malformed'
  | 'algorithm'
  | 'signing-key'
  | 'signature'
  | 'issuer'
  | 'audience'
  | 'expired'
  | 'not-yet-valid'
  | 'issued-in-future'

export type GatewayTokenResult =
  | { valid: true; claims: Readonly<Record<string, unknown>> }
  | { valid: false; refusal: GatewayTokenRefusal }

const GATEWAY_ALGORITHMS = new Set(['RS256', 'RS384', 'RS512'])

/**
 * Verifies a bearer token as API Gateway's HTTP API JWT authorizer does (AWS developer guide, "Control access to HTTP
 * APIs with JWT authorizers"): an RSA signature by the published key its `kid` names, then `iss`, `aud` (`client_id`
 * when there is no `aud`), `exp`, `nbf` and `iat` against the current time. The local server's emulation of the
 * gateway; the service itself verifies with `verifyAccessToken`, which also pins `typ` and the claims it needs.
 */
export async function verifyGatewayToken(
  token: string,
  options: { issuer: string; audience: string; keys: readonly JWK[]; now?: Date },
): Promise<GatewayTokenResult> {
  const refused = (refusal: GatewayTokenRefusal): GatewayTokenResult => ({ valid: false, refusal })
  if (token.split('.').length !== 3) return refused('malformed')
  let header: ReturnType<typeof decodeProtectedHeader>
  try {
    header = decodeProtectedHeader(token)
  } catch {
    return refused('malformed')
  }
  const { alg, kid } = header
  if (typeof alg !== 'string' || !GATEWAY_ALGORITHMS.has(alg)) return refused('algorithm')
  const jwk = typeof kid === 'string' ? options.keys.find((key) => key.kid === kid) : undefined
  if (!jwk) return refused('signing-key')

  let claims: unknown
  try {
    const { payload } = await compactVerify(token, await importJWK(jwk, alg), {
      algorithms: [jwk.alg ?? alg],
    })
    claims = JSON.parse(new TextDecoder().decode(payload))
  } catch {
    return refused('signature')
  }
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) return refused('malformed')
  const { iss, aud, client_id, exp, nbf, iat } = claims as Record<string, unknown>

  if (iss !== options.issuer) return refused('issuer')
  const audienceMatches =
    aud === undefined ? client_id === options.audience : [aud].flat().includes(options.audience)
  if (!audienceMatches) return refused('audience')
  const now = (options.now ?? new Date()).getTime() / 1000
  if (typeof exp !== 'number' || exp <= now) return refused('expired')
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > now)) return refused('not-yet-valid')
  if (iat !== undefined && (typeof iat !== 'number' || iat > now)) return refused('issued-in-future')
  return { valid: true, claims: claims as Record<string, unknown> }
}
