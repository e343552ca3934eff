import { describe, expect, it } from 'vitest'
import { createAuthService } from '#shared/domain/auth-service'
import {
  IncorrectPasswordError,
  InvalidCredentialsError,
  InvalidTokenError,
  RegistrationLimitError,
  TooManyAttemptsError,
  UsernameTakenError,
} from '#shared/domain/errors'
import type { PasswordHasher } from '#shared/domain/passwords'
import { newSigningKeySet, publishedKeys } from '#shared/domain/signing-keys'
import { type Clock, createTokenService } from '#shared/domain/tokens'
import { createMemoryStore, type MemoryStoreOptions } from '#test/fakes/memory-store'

const FROZEN = new Date('2026-01-01T00:00:00Z')
const CONTEXT = { sourceIp: '198.51.100.1', userAgent: 'vitest' }
const KEYS = newSigningKeySet(FROZEN)

/**
 * The shared in-memory store (test/fakes), with the repositories' rules, on the frozen clock and a limit of three
 * checks per email (the one past it refused for the 60 s of its window), so the service's rules are tested in
 * isolation. `rows` are the stored accounts; `tokens` and `sessions` the stored refresh tokens and sessions.
 */
function fakes(
  options: Omit<MemoryStoreOptions, 'clock' | 'state'> = {},
  /** Runs after each compare, before its answer: what commits while a password is being checked. */
  afterCompare: () => void = () => {},
) {
  const clock: Clock = { now: () => FROZEN }
  // The clock stands still, so a reuse interval would never pass: these cases hold single use strictly (interval 0;
  // test/contracts/session-repository.ts holds the interval).
  const store = createMemoryStore({
    ...options,
    clock,
    login: { maxFailures: 3, windowSeconds: 60, ...options.login },
    session: { reuseIntervalSeconds: 0, ...options.session },
  })
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
      afterCompare()
      return { ok, needsRehash: ok }
    },
  }
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
    adminAuth: { maxAgeSeconds: 3600, now: () => FROZEN },
    users: store.users,
    logins: store.logins,
    sessions: store.sessions,
    passwords,
    tokens: tokenService,
  })
  const { users: rows, refreshTokens: tokens, sessions } = store.state
  return { auth, rows, compares, hashes, tokens, sessions, store }
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
      email_verified: false,
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

  it('rotates refresh tokens and ends the session on replay', async () => {
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

  it('starts no session and answers 401 when the password is reset while it is being checked', async () => {
    let reset = () => {}
    const { auth, rows, sessions, tokens } = fakes({}, () => reset())
    await auth.register({ email: 'a@example.com', password: 'correct horse', username: null }, CONTEXT)
    // The reset commits between the compare and the session's start: the password checked is no longer the account's.
    reset = () => {
      const account = rows[0] as (typeof rows)[number]
      account.hashedPassword = 'hashed:a new one'
      account.credentialVersion += 1
    }
    await expect(auth.login('a@example.com', 'correct horse', CONTEXT)).rejects.toBeInstanceOf(
      InvalidCredentialsError,
    )
    expect(sessions.size).toBe(0)
    expect(tokens.size).toBe(0)
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

  it("refuses a registration past the address's limit before hashing its password", async () => {
    const { auth, hashes, rows } = fakes({ registration: { maxPerWindow: 1 } })
    await auth.register({ email: 'a@example.com', password: 'correct horse', username: null }, CONTEXT)
    await expect(
      auth.register({ email: 'b@example.com', password: 'other horse', username: null }, CONTEXT),
    ).rejects.toBeInstanceOf(RegistrationLimitError)
    expect(hashes).toEqual(['correct horse'])
    expect(rows).toHaveLength(1)
  })

  it('counts a registration refused for a taken username against the address', async () => {
    const { auth } = fakes({ registration: { maxPerWindow: 2 } })
    const other = { ...CONTEXT, sourceIp: '198.51.100.2' }
    await auth.register({ email: 'a@example.com', password: 'correct horse', username: 'taken' }, other)
    for (const email of ['b@example.com', 'c@example.com']) {
      await expect(
        auth.register({ email, password: 'correct horse', username: 'TAKEN' }, CONTEXT),
      ).rejects.toBeInstanceOf(UsernameTakenError)
    }
    await expect(
      auth.register({ email: 'd@example.com', password: 'correct horse', username: 'TAKEN' }, CONTEXT),
    ).rejects.toBeInstanceOf(RegistrationLimitError)
  })

  it('gives the address its place back for a right password (login, token, change), never for a wrong one', async () => {
    const { auth } = fakes({ login: { ipMaxFailures: 2 } })
    const elsewhere = { ...CONTEXT, sourceIp: '198.51.100.3' }
    await auth.register({ email: 'a@example.com', password: 'correct horse', username: null }, elsewhere)
    let password = 'correct horse'
    for (let round = 0; round < 3; round++) {
      const pair = await auth.token({ grantType: 'password', email: 'a@example.com', password }, CONTEXT)
      const principal = await auth.authenticate(pair.access_token)
      const next = `new horse ${round}`
      await auth.changePassword(principal, { current_password: password, new_password: next }, CONTEXT)
      password = next
    }
    const pair = await auth.login('a@example.com', password, CONTEXT)
    const principal = await auth.authenticate(pair.access_token)
    await expect(
      auth.changePassword(principal, { current_password: 'wrong', new_password: 'x' }, CONTEXT),
    ).rejects.toBeInstanceOf(IncorrectPasswordError)
    await expect(auth.login('nobody@example.com', 'wrong', CONTEXT)).rejects.toBeInstanceOf(
      InvalidCredentialsError,
    )
    await expect(auth.login('a@example.com', password, CONTEXT)).rejects.toBeInstanceOf(TooManyAttemptsError)
  })
})
