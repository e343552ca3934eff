import { createHash, randomBytes, randomUUID } from 'node:crypto'
import {
  type CryptoKey,
  compactVerify,
  createLocalJWKSet,
  decodeProtectedHeader,
  importJWK,
  importPKCS8,
  type JWK,
  type JWTVerifyGetKey,
  errors as joseErrors,
  jwtVerify,
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
}

export interface TokenService {
  readonly accessTokenTtlSeconds: number
  issueAccessToken(subject: AccessTokenSubject): Promise<string>
  /** The subject of a valid access token; `InvalidTokenError` for anything else. */
  verifyAccessToken(token: string): Promise<AccessTokenSubject>
  issueRefreshToken(): IssuedRefreshToken
  hashRefreshToken(token: string): string
}

/** What is derived from one `TokenKeys`: the imported private key, the verifier's key lookup. */
interface PreparedKeys {
  signer: Promise<{ kid: string; key: CryptoKey }> | undefined
  verifierKey: JWTVerifyGetKey
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
  const published = new Set(keys.published.map((jwk) => jwk.kid))
  const jwks = createLocalJWKSet({ keys: keys.published.map((jwk) => ({ ...jwk })) })
  return {
    signer,
    // Only a `kid` of the published set selects a key: jose would otherwise take a lone key for a token without one.
    verifierKey: (header, token) => {
      if (typeof header.kid !== 'string' || !published.has(header.kid)) throw new InvalidTokenError()
      return jwks(header, token)
    },
  }
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

    async issueAccessToken({ userId, sessionId }) {
      const { signer } = await keysNow()
      // Never a default key: a function without the signing keys cannot sign at all.
      if (!signer) throw new Error('this function has no signing keys')
      const { kid, key } = await signer
      const issuedAt = seconds(settings.clock.now())
      return new SignJWT({ client_id: settings.clientId, ...(sessionId ? { sid: sessionId } : {}) })
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
      const { verifierKey } = await keysNow()
      try {
        const { payload } = await jwtVerify(token, verifierKey, {
          algorithms: [SIGNING_ALGORITHM],
          issuer: settings.issuer,
          audience: settings.audience,
          typ: ACCESS_TOKEN_TYPE,
          requiredClaims: ['exp', 'iat', 'sub', 'jti'],
          currentDate: settings.clock.now(),
        })
        const userId = Number(payload.sub)
        if (!Number.isSafeInteger(userId) || userId <= 0 || String(userId) !== payload.sub) {
          throw new InvalidTokenError()
        }
        const { sid } = payload
        if (sid !== undefined && (typeof sid !== 'string' || !isUuid(sid))) throw new InvalidTokenError()
        return { userId, sessionId: sid ?? null }
      } catch (error) {
        if (error instanceof InvalidTokenError) throw error
        if (error instanceof joseErrors.JOSEError || error instanceof TypeError) throw new InvalidTokenError()
        throw error
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
