import { randomUUID } from 'node:crypto'
import { InvalidCredentialsError, InvalidTokenError } from './errors.ts'
import type { PasswordHasher } from './passwords.ts'
import type { RegisterBody, TokenRequest } from './schemas.ts'
import type { TokenService } from './tokens.ts'
import { type NewUser, type PublicUser, toPublicUser, type UserRecord } from './users.ts'

/** What the auth service needs from storage; `db/repositories` implements it, unit tests fake it. */
export interface AuthUsers {
  findById(id: number): Promise<UserRecord | null>
  findByEmail(email: string): Promise<UserRecord | null>
  insert(user: NewUser): Promise<UserRecord>
}

export interface AuthRefreshTokens {
  insert(
    token: { hash: string; familyId: string; userId: number; expiresAt: Date },
    rehashedPassword?: string,
  ): Promise<void>
  rotate(hash: string, next: { hash: string; expiresAt: Date }): Promise<{ userId: number } | null>
  revokeFamilyIfRetired(hash: string): Promise<boolean>
  revokeFamily(hash: string): Promise<void>
}

export interface TokenPair {
  access_token: string
  refresh_token: string
  token_type: 'bearer'
  expires_in: number
}

export interface AuthDependencies {
  users: AuthUsers
  refreshTokens: AuthRefreshTokens
  passwords: PasswordHasher
  tokens: TokenService
}

export type AuthService = ReturnType<typeof createAuthService>

/** Registration, login, token rotation and the current user: every rule of the contract that is not HTTP. */
export function createAuthService({ users, refreshTokens, passwords, tokens }: AuthDependencies) {
  const tokenPair = async (userId: number, refreshToken: string): Promise<TokenPair> => ({
    access_token: await tokens.issueAccessToken(userId),
    refresh_token: refreshToken,
    token_type: 'bearer',
    expires_in: tokens.accessTokenTtlSeconds,
  })

  /** Exactly one bcrypt compare whatever the outcome, so unknown emails and wrong passwords look alike. */
  async function login(email: string, password: string): Promise<TokenPair> {
    const user = await users.findByEmail(email)
    const check = await passwords.verify(password, user?.hashedPassword ?? null)
    if (!user || !check.ok || !user.isActive) throw new InvalidCredentialsError()

    const refresh = tokens.issueRefreshToken()
    const [pair] = await Promise.all([
      tokenPair(user.id, refresh.token),
      refreshTokens.insert(
        { hash: refresh.hash, familyId: randomUUID(), userId: user.id, expiresAt: refresh.expiresAt },
        check.rehash,
      ),
    ])
    return pair
  }

  /** Exchanges a live refresh token for a new pair; a replayed one revokes its whole family. */
  async function refresh(refreshToken: string): Promise<TokenPair> {
    const hash = tokens.hashRefreshToken(refreshToken)
    const next = tokens.issueRefreshToken()
    const rotated = await refreshTokens.rotate(hash, next)
    if (!rotated) {
      await refreshTokens.revokeFamilyIfRetired(hash)
      throw new InvalidTokenError()
    }
    return tokenPair(rotated.userId, next.token)
  }

  return {
    async register({ email, password, username }: RegisterBody): Promise<PublicUser> {
      const hashedPassword = await passwords.hash(password)
      return toPublicUser(await users.insert({ email, username: username ?? null, hashedPassword }))
    },

    login,
    refresh,

    /** The OAuth 2.0 token endpoint: the password grant is `login`, the refresh grant is `refresh`. */
    token(request: TokenRequest): Promise<TokenPair> {
      return request.grantType === 'password'
        ? login(request.email, request.password)
        : refresh(request.refreshToken)
    },

    /** Revokes the token's family; unknown and already revoked tokens are accepted, so repeating is harmless. */
    async logout(refreshToken: string): Promise<void> {
      await refreshTokens.revokeFamily(tokens.hashRefreshToken(refreshToken))
    },

    async currentUser(accessToken: string): Promise<PublicUser> {
      const userId = await tokens.verifyAccessToken(accessToken)
      const user = await users.findById(userId)
      if (!user?.isActive) throw new InvalidTokenError()
      return toPublicUser(user)
    },
  }
}
