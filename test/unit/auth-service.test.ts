import { describe, expect, it } from 'vitest'
import { type AuthDependencies, createAuthService } from '#shared/domain/auth-service'
import {
  EmailTakenError,
  InvalidCredentialsError,
  InvalidTokenError,
  TooManyAttemptsError,
} from '#shared/domain/errors'
import type { PasswordHasher } from '#shared/domain/passwords'
import type { LoginRepository, RefreshTokenRepository } from '#shared/domain/ports'
import { type Clock, createTokenService } from '#shared/domain/tokens'
import type { UserRecord } from '#shared/domain/users'

const FROZEN = new Date('2026-01-01T00:00:00Z')
const CONTEXT = { sourceIp: '198.51.100.1', userAgent: 'vitest' }

/** In-memory stand-ins with the repositories' semantics, so the service's rules are tested in isolation. */
function fakes() {
  const rows: UserRecord[] = []
  const tokens = new Map<string, { familyId: string; userId: number; retired: boolean; revoked: boolean }>()
  const failures = new Map<string, number>()
  const users: AuthDependencies['users'] = {
    findById: async (id) => rows.find((row) => row.id === id) ?? null,
    register: async (user) => {
      if (rows.some((row) => row.email === user.email)) throw new EmailTakenError()
      const row = {
        id: rows.length + 1,
        isActive: true,
        isSuperuser: false,
        createdAt: FROZEN,
        updatedAt: FROZEN,
        ...user,
      }
      rows.push(row)
      return row
    },
  }
  const logins: LoginRepository = {
    find: async (email) => ({
      user: rows.find((row) => row.email === email) ?? null,
      lockedForSeconds: (failures.get(email) ?? 0) >= 3 ? 60 : null,
    }),
    recordFailure: async (email) => {
      failures.set(email, (failures.get(email) ?? 0) + 1)
      return { lockedForSeconds: null }
    },
    recordSuccess: async (session) => {
      failures.delete(session.user.email)
      tokens.set(session.refreshTokenHash, {
        familyId: session.familyId,
        userId: session.user.id,
        retired: false,
        revoked: false,
      })
    },
  }
  const refreshTokens: RefreshTokenRepository = {
    rotate: async (hash, next) => {
      const token = tokens.get(hash)
      if (!token || token.retired || token.revoked) return null
      token.retired = true
      tokens.set(next.hash, {
        familyId: token.familyId,
        userId: token.userId,
        retired: false,
        revoked: false,
      })
      return { userId: token.userId }
    },
    revokeFamilyIfRetired: async (hash) => {
      const token = tokens.get(hash)
      if (!token?.retired) return false
      for (const member of tokens.values()) if (member.familyId === token.familyId) member.revoked = true
      return true
    },
    revokeFamily: async (hash) => {
      const token = tokens.get(hash)
      for (const member of tokens.values()) if (member.familyId === token?.familyId) member.revoked = true
    },
  }
  const compares: (string | null)[] = []
  const passwords: PasswordHasher = {
    hash: async (password) => `hashed:${password}`,
    verify: async (password, stored) => {
      compares.push(stored)
      return { ok: stored === `hashed:${password}` }
    },
  }
  const clock: Clock = { now: () => FROZEN }
  const tokenService = createTokenService({
    secret: 'a-test-secret-that-is-at-least-32-bytes-long',
    issuer: 'iss',
    audience: 'aud',
    accessTokenTtlSeconds: 900,
    refreshTokenTtlSeconds: 3600,
    clock,
  })
  const auth = createAuthService({ users, logins, refreshTokens, passwords, tokens: tokenService })
  return { auth, rows, compares, tokens }
}

describe('auth service', () => {
  it('registers a user with a hashed password and returns the public shape', async () => {
    const { auth, rows } = fakes()
    const user = await auth.register(
      {
        email: 'a@example.com',
        password: 'correct horse',
        username: undefined,
      },
      CONTEXT,
    )
    expect(user).toEqual({
      id: 1,
      email: 'a@example.com',
      username: null,
      is_active: true,
      is_superuser: false,
      created_at: '2026-01-01T00:00:00.000+00:00',
      updated_at: '2026-01-01T00:00:00.000+00:00',
    })
    expect(rows[0]?.hashedPassword).toBe('hashed:correct horse')
  })

  it('checks one password whatever the outcome, the dummy (null) for an unknown email', async () => {
    const { auth, compares } = fakes()
    await auth.register({ email: 'a@example.com', password: 'correct horse', username: null }, CONTEXT)
    await expect(auth.login('nobody@example.com', 'x', CONTEXT)).rejects.toBeInstanceOf(
      InvalidCredentialsError,
    )
    await expect(auth.login('a@example.com', 'wrong', CONTEXT)).rejects.toBeInstanceOf(
      InvalidCredentialsError,
    )
    expect(compares).toEqual([null, 'hashed:correct horse'])
  })

  it('issues access tokens stamped with the frozen clock', async () => {
    const { auth } = fakes()
    await auth.register({ email: 'a@example.com', password: 'correct horse', username: null }, CONTEXT)
    const pair = await auth.login('a@example.com', 'correct horse', CONTEXT)
    const payload = JSON.parse(Buffer.from(pair.access_token.split('.')[1] ?? '', 'base64url').toString())
    expect(payload).toMatchObject({
      sub: '1',
      iss: 'iss',
      aud: 'aud',
      iat: FROZEN.getTime() / 1000,
      exp: FROZEN.getTime() / 1000 + 900,
    })
    expect(await auth.currentUser(pair.access_token)).toMatchObject({ id: 1 })
  })

  it('rotates refresh tokens and revokes the family on replay', async () => {
    const { auth } = fakes()
    await auth.register({ email: 'a@example.com', password: 'correct horse', username: null }, CONTEXT)
    const first = await auth.login('a@example.com', 'correct horse', CONTEXT)
    const second = await auth.refresh(first.refresh_token, CONTEXT)
    await expect(auth.refresh(first.refresh_token, CONTEXT)).rejects.toBeInstanceOf(InvalidTokenError)
    await expect(auth.refresh(second.refresh_token, CONTEXT)).rejects.toBeInstanceOf(InvalidTokenError)
  })

  it('dispatches the token endpoint by grant', async () => {
    const { auth } = fakes()
    await auth.register({ email: 'a@example.com', password: 'correct horse', username: null }, CONTEXT)
    const pair = await auth.token(
      { grantType: 'password', email: 'a@example.com', password: 'correct horse' },
      CONTEXT,
    )
    await expect(
      auth.token({ grantType: 'refresh_token', refreshToken: pair.refresh_token }, CONTEXT),
    ).resolves.toMatchObject({ token_type: 'bearer' })
  })

  it('refuses a locked email before looking at its password, and counts only failures', async () => {
    const { auth, compares } = fakes()
    await auth.register({ email: 'a@example.com', password: 'correct horse', username: null }, CONTEXT)
    for (let attempt = 0; attempt < 3; attempt++) {
      await expect(auth.login('a@example.com', 'wrong', CONTEXT)).rejects.toBeInstanceOf(
        InvalidCredentialsError,
      )
    }
    const comparesBefore = compares.length
    await expect(auth.login('a@example.com', 'correct horse', CONTEXT)).rejects.toEqual(
      new TooManyAttemptsError(60),
    )
    expect(compares).toHaveLength(comparesBefore)
  })
})
