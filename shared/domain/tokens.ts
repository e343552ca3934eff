import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose'
import { InvalidTokenError } from './errors.ts'

const ACCESS_TOKEN_TYPE = 'at+jwt'
const ALGORITHM = 'HS256'
const REFRESH_TOKEN_BYTES = 32
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

export interface Clock {
  now(): Date
}

export const systemClock: Clock = { now: () => new Date() }

export interface TokenSettings {
  secret: string
  issuer: string
  audience: string
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

/** The one wrapper around jose: RFC 9068 access tokens (HS256, `typ: at+jwt`) and opaque refresh tokens. */
export function createTokenService(settings: TokenSettings): TokenService {
  const key = new TextEncoder().encode(settings.secret)
  const seconds = (date: Date) => Math.floor(date.getTime() / 1000)
  const hashRefreshToken = (token: string) => createHash('sha256').update(token, 'utf8').digest('base64url')

  return {
    accessTokenTtlSeconds: settings.accessTokenTtlSeconds,

    issueAccessToken({ userId, sessionId }) {
      const issuedAt = seconds(settings.clock.now())
      return new SignJWT(sessionId ? { sid: sessionId } : {})
        .setProtectedHeader({ alg: ALGORITHM, typ: ACCESS_TOKEN_TYPE })
        .setIssuer(settings.issuer)
        .setAudience(settings.audience)
        .setSubject(String(userId))
        .setIssuedAt(issuedAt)
        .setExpirationTime(issuedAt + settings.accessTokenTtlSeconds)
        .setJti(randomUUID())
        .sign(key)
    },

    async verifyAccessToken(token) {
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: [ALGORITHM],
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
        if (sid !== undefined && (typeof sid !== 'string' || !UUID.test(sid))) throw new InvalidTokenError()
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
