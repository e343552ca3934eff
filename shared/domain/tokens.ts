import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose'
import { InvalidTokenError } from './errors.ts'

const ACCESS_TOKEN_TYPE = 'at+jwt'
const ALGORITHM = 'HS256'
const REFRESH_TOKEN_BYTES = 32

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

export interface TokenService {
  readonly accessTokenTtlSeconds: number
  issueAccessToken(userId: number): Promise<string>
  /** The user id of a valid access token; `InvalidTokenError` for anything else. */
  verifyAccessToken(token: string): Promise<number>
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

    issueAccessToken(userId) {
      const issuedAt = seconds(settings.clock.now())
      return new SignJWT({})
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
        return userId
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
