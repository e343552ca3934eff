import { describe, expect, it } from 'vitest'
import { type AuthDependencies, createAuthService } from '#shared/domain/auth-service'
import {
  EmailTakenError,
  InvalidCredentialsError,
  InvalidTokenError,
  TooManyAttemptsError,
} from '#shared/domain/errors'
import type { PasswordHasher } from '#shared/domain/passwords'
import type { LoginRepository, SessionRepository } from '#shared/domain/ports'
import { newSigningKeySet, publishedKeys } from '#shared/domain/signing-keys'
import { type Clock, createTokenService } from '#shared/domain/tokens'
import type { UserRecord } from '#shared/domain/users'

const FROZEN = new Date('2026-01-01T00:00:00Z')
const CONTEXT = { sourceIp: '198.51.100.1', userAgent: 'vitest' }
const KEYS = newSigningKeySet(FROZEN)

/** In-memory stand-ins with the repositories' semantics, so the service's rules are tested in isolation. */
function fakes() {
  const rows: UserRecord[] = []
  const tokens = new Map<string, { sessionId: string; retired: boolean }>()
  const sessions = new Map<string, { userId: number; revoked: boolean }>()
  const checks = new Map<string, number>()
  const MAX_CHECKS = 3
  const users: AuthDependencies['users'] = {
    register: async (user) => {
      if (rows.some((row) => row.email === user.email)) throw new EmailTakenError()
      const row = {
        id: rows.length + 1,
        isActive: true,
        isSuperuser: false,
        createdAt: FROZEN,
        updatedAt: FROZEN,
        passwordCarriedOver: false,
        ...user,
      }
      rows.push(row)
      return row
    },
  }
  const logins: LoginRepository = {
    begin: async ({ id, email }) => {
      const number = (checks.get(email) ?? 0) + 1
      checks.set(email, number)
      return {
        id,
        email,
        user: rows.find((row) => row.email === email) ?? null,
        refusedForSeconds: number > MAX_CHECKS ? 60 : null,
        number,
      }
    },
    recordFailure: async () => {},
    startSession: async (session) => {
      checks.delete(session.user.email)
      sessions.set(session.id, { userId: session.user.id, revoked: false })
      tokens.set(session.refreshTokenHash, { sessionId: session.id, retired: false })
      return true
    },
  }
  const sessionRepository: SessionRepository = {
    rotate: async (hash, next) => {
      const token = tokens.get(hash)
      const session = token && sessions.get(token.sessionId)
      if (!token || !session || token.retired || session.revoked) return null
      token.retired = true
      tokens.set(next.hash, { sessionId: token.sessionId, retired: false })
      return { userId: session.userId, sessionId: token.sessionId }
    },
    revokeIfReplayed: async (hash) => {
      const token = tokens.get(hash)
      const session = token && sessions.get(token.sessionId)
      if (!token?.retired || !session) return false
      session.revoked = true
      return true
    },
    revoke: async (hash) => {
      const token = tokens.get(hash)
      const session = token && sessions.get(token.sessionId)
      if (session) session.revoked = true
    },
    findUser: async (userId, sessionId) => {
      const session = sessionId ? sessions.get(sessionId) : undefined
      if (sessionId && (!session || session.revoked)) return null
      return rows.find((row) => row.id === userId && row.isActive) ?? null
    },
    // The session and password endpoints are covered against PostgreSQL (test/integration/sessions.test.ts).
    list: async () => [],
    end: async () => false,
    endAll: async () => {},
    changePassword: async () => false,
  }
  const compares: (string | null)[] = []
  const hashes: string[] = []
  const passwords: PasswordHasher = {
    hash: async (password) => {
      hashes.push(password)
      return `hashed:${password}`
    },
    // Every stored hash is of a lower cost than the current one: a successful check always asks for a rehash.
    verify: async (password, stored) => {
      compares.push(stored)
      const ok = stored === `hashed:${password}`
      return { ok, needsRehash: ok }
    },
  }
  const clock: Clock = { now: () => FROZEN }
  const tokenService = createTokenService({
    keys: { signing: KEYS, published: publishedKeys(KEYS) },
    issuer: 'iss',
    audience: 'aud',
    clientId: 'client',
    accessTokenTtlSeconds: 900,
    refreshTokenTtlSeconds: 3600,
    clock,
  })
  const auth = createAuthService({
    users,
    logins,
    sessions: sessionRepository,
    passwords,
    tokens: tokenService,
  })
  return { auth, rows, compares, hashes, tokens, sessions }
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
    expect((await auth.authenticate(pair.access_token)).user).toMatchObject({ id: 1 })
  })

  it("rehashes a weak hash at an active user's login, and never an inactive user's, even on the right password", async () => {
    const { auth, rows, hashes } = fakes()
    await auth.register({ email: 'a@example.com', password: 'correct horse', username: null }, CONTEXT)
    await auth.register({ email: 'b@example.com', password: 'correct horse', username: null }, CONTEXT)
    hashes.length = 0
    const inactive = rows[1]
    if (inactive) inactive.isActive = false
    await expect(auth.login('b@example.com', 'correct horse', CONTEXT)).rejects.toBeInstanceOf(
      InvalidCredentialsError,
    )
    expect(hashes).toEqual([])
    await auth.login('a@example.com', 'correct horse', CONTEXT)
    expect(hashes).toEqual(['correct horse'])
  })

  it('puts the session in the access token, and refuses it once the session is logged out', async () => {
    const { auth } = fakes()
    await auth.register({ email: 'a@example.com', password: 'correct horse', username: null }, CONTEXT)
    const pair = await auth.login('a@example.com', 'correct horse', CONTEXT)
    const payload = JSON.parse(Buffer.from(pair.access_token.split('.')[1] ?? '', 'base64url').toString())
    expect(payload.sid).toMatch(/^[0-9a-f-]{36}$/)
    await auth.logout(pair.refresh_token, CONTEXT)
    await expect(auth.authenticate(pair.access_token)).rejects.toBeInstanceOf(InvalidTokenError)
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

  it('refuses an attempt past the limit before looking at its password', async () => {
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
