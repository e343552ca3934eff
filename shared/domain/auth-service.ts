import { randomUUID } from 'node:crypto'
import { InvalidCredentialsError, InvalidTokenError, TooManyAttemptsError } from './errors.ts'
import type { PasswordHasher } from './passwords.ts'
import type { LoginRepository, RefreshTokenRepository, UserRepository } from './ports.ts'
import type { RegisterBody, TokenRequest } from './schemas.ts'
import type { TokenService } from './tokens.ts'
import { type PublicUser, type RequestContext, toPublicUser } from './users.ts'

export interface TokenPair {
  access_token: string
  refresh_token: string
  token_type: 'bearer'
  expires_in: number
}

export interface AuthDependencies {
  users: Pick<UserRepository, 'findById' | 'register'>
  logins: LoginRepository
  refreshTokens: RefreshTokenRepository
  passwords: PasswordHasher
  tokens: TokenService
}

export type AuthService = ReturnType<typeof createAuthService>

/** Registration, login, token rotation and the current user: every rule of the contract that is not HTTP. */
export function createAuthService({ users, logins, refreshTokens, passwords, tokens }: AuthDependencies) {
  const tokenPair = async (userId: number, refreshToken: string): Promise<TokenPair> => ({
    access_token: await tokens.issueAccessToken(userId),
    refresh_token: refreshToken,
    token_type: 'bearer',
    expires_in: tokens.accessTokenTtlSeconds,
  })

  /**
   * A locked email is refused before its password is looked at. Otherwise exactly one bcrypt compare, whatever the
   * outcome, so unknown emails and wrong passwords look alike; each failure counts towards the lock.
   */
  async function login(email: string, password: string, context: RequestContext): Promise<TokenPair> {
    const { user, lockedForSeconds } = await logins.find(email)
    if (lockedForSeconds !== null) throw new TooManyAttemptsError(lockedForSeconds)
    const check = await passwords.verify(password, user?.hashedPassword ?? null)
    if (!user || !check.ok || !user.isActive) {
      await logins.recordFailure(email, user?.id ?? null, context)
      throw new InvalidCredentialsError()
    }

    const refresh = tokens.issueRefreshToken()
    const [pair] = await Promise.all([
      tokenPair(user.id, refresh.token),
      logins.recordSuccess(
        {
          user,
          refreshTokenHash: refresh.hash,
          familyId: randomUUID(),
          expiresAt: refresh.expiresAt,
          rehashedPassword: check.rehash,
        },
        context,
      ),
    ])
    return pair
  }

  /** Exchanges a live refresh token for a new pair; a replayed one revokes its whole family. */
  async function refresh(refreshToken: string, context: RequestContext): Promise<TokenPair> {
    const hash = tokens.hashRefreshToken(refreshToken)
    const next = tokens.issueRefreshToken()
    const rotated = await refreshTokens.rotate(hash, next, context)
    if (!rotated) {
      await refreshTokens.revokeFamilyIfRetired(hash, context)
      throw new InvalidTokenError()
    }
    return tokenPair(rotated.userId, next.token)
  }

  return {
    async register(
      { email, password, username }: RegisterBody,
      context: RequestContext,
    ): Promise<PublicUser> {
      const hashedPassword = await passwords.hash(password)
      return toPublicUser(
        await users.register({ email, username: username ?? null, hashedPassword }, context),
      )
    },

    login,
    refresh,

    /** The OAuth 2.0 token endpoint: the password grant is `login`, the refresh grant is `refresh`. */
    token(request: TokenRequest, context: RequestContext): Promise<TokenPair> {
      return request.grantType === 'password'
        ? login(request.email, request.password, context)
        : refresh(request.refreshToken, context)
    },

    /** Revokes the token's family; unknown and already revoked tokens are accepted, so repeating is harmless. */
    async logout(refreshToken: string, context: RequestContext): Promise<void> {
      await refreshTokens.revokeFamily(tokens.hashRefreshToken(refreshToken), context)
    },

    async currentUser(accessToken: string): Promise<PublicUser> {
      const userId = await tokens.verifyAccessToken(accessToken)
      const user = await users.findById(userId)
      if (!user?.isActive) throw new InvalidTokenError()
      return toPublicUser(user)
    },
  }
}
