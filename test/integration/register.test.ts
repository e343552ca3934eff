import { eq, sql } from 'drizzle-orm'
import { afterAll, describe, expect, it } from 'vitest'
import { users } from '#db/schema'
import { handler as login } from '#functions/login'
import { handler as register } from '#functions/register'
import { testDatabase } from '#test/helpers/database'
import { apiEvent, invoke, jsonEvent, uniqueEmail, uniqueUsername } from '#test/helpers/events'

const REGISTER = '/api/v1/auth/register'
const LOGIN = '/api/v1/auth/login'
const database = testDatabase()
afterAll(() => database.close())

const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/

const registerUser = (body: unknown) => invoke(register, jsonEvent(REGISTER, body))

describe('POST /auth/register', () => {
  it('answers 201 with the User object and nothing secret', async () => {
    const email = uniqueEmail()
    const username = uniqueUsername()
    const response = await registerUser({ email, password: 'correct horse', username })

    expect(response.status).toBe(201)
    expect(response.headers['content-type']).toBe('application/json')
    expect(response.headers['x-content-type-options']).toBe('nosniff')
    expect(response.body).toEqual({
      id: expect.any(Number),
      email,
      username,
      is_active: true,
      is_superuser: false,
      email_verified: false,
      created_at: expect.stringMatching(ISO_WITH_OFFSET),
      updated_at: expect.stringMatching(ISO_WITH_OFFSET),
    })
    expect(response.raw).not.toMatch(/password|hash|\$2[aby]\$/i)
  })

  it('stores the email trimmed and lowercased, so case variants are one account', async () => {
    const email = uniqueEmail('Mixed')
    const shouted = `  ${email.toUpperCase()}  `
    const first = await registerUser({ email: shouted, password: 'correct horse' })
    expect(first.status).toBe(201)
    expect((first.body as { email: string }).email).toBe(email.toLowerCase())

    const second = await registerUser({ email: email.toLowerCase(), password: 'correct horse' })
    expect(second).toMatchObject({ status: 400, body: { detail: 'User with this email already exists' } })

    const loggedIn = await invoke(
      login,
      jsonEvent(LOGIN, { email: email.toUpperCase(), password: 'correct horse' }),
    )
    expect(loggedIn.status).toBe(200)
  })

  it('answers 400 when the email is taken', async () => {
    const email = uniqueEmail()
    await registerUser({ email, password: 'correct horse' })
    const response = await registerUser({ email, password: 'another secret' })
    expect(response).toMatchObject({ status: 400, body: { detail: 'User with this email already exists' } })
  })

  it('answers 400 when the username is taken, regardless of case', async () => {
    const username = uniqueUsername('Case')
    expect((await registerUser({ email: uniqueEmail(), password: 'correct horse', username })).status).toBe(
      201,
    )
    const response = await registerUser({
      email: uniqueEmail(),
      password: 'correct horse',
      username: username.toUpperCase(),
    })
    expect(response).toMatchObject({
      status: 400,
      body: { detail: 'User with this username already exists' },
    })
  })

  it('allows many accounts without a username, and accepts null for it', async () => {
    const a = await registerUser({ email: uniqueEmail(), password: 'correct horse' })
    const b = await registerUser({ email: uniqueEmail(), password: 'correct horse', username: null })
    expect([a.status, b.status]).toEqual([201, 201])
    expect((b.body as { username: unknown }).username).toBeNull()
  })

  it('ignores unknown fields: is_superuser in the body has no effect', async () => {
    const response = await registerUser({
      email: uniqueEmail(),
      password: 'correct horse',
      is_superuser: true,
      is_active: false,
      id: 1,
    })
    expect(response.status).toBe(201)
    expect(response.body).toMatchObject({ is_superuser: false, is_active: true })
    expect((response.body as { id: number }).id).not.toBe(1)
  })

  describe('password rules', () => {
    it('refuses 7 bytes and accepts 8', async () => {
      const short = await registerUser({ email: uniqueEmail(), password: '1234567' })
      expect(short.status).toBe(422)
      expect(short.body).toEqual({
        detail: [{ loc: ['body', 'password'], msg: expect.any(String), type: expect.any(String) }],
      })
      // Eight bytes that no list holds ('12345678' is the third most common password: the blocklist refuses it).
      expect((await registerUser({ email: uniqueEmail(), password: 'Jx7#qLp2' })).status).toBe(201)
    })

    it('accepts 72 bytes and refuses 73, counting UTF-8 bytes rather than characters', async () => {
      expect((await registerUser({ email: uniqueEmail(), password: 'a'.repeat(72) })).status).toBe(201)
      expect((await registerUser({ email: uniqueEmail(), password: 'a'.repeat(73) })).status).toBe(422)
      // 36 two-byte characters are 72 bytes; 37 are 74.
      expect((await registerUser({ email: uniqueEmail(), password: 'é'.repeat(36) })).status).toBe(201)
      const tooLong = await registerUser({ email: uniqueEmail(), password: 'é'.repeat(37) })
      expect(tooLong.status).toBe(422)
      expect(tooLong.body).toMatchObject({ detail: [{ loc: ['body', 'password'] }] })
    })

    it('keeps the password exactly as typed: no trimming, and an embedded NUL matters', async () => {
      const email = uniqueEmail()
      const password = '  pass\u0000word  '
      expect((await registerUser({ email, password })).status).toBe(201)
      const asTyped = await invoke(login, jsonEvent(LOGIN, { email, password }))
      const trimmed = await invoke(login, jsonEvent(LOGIN, { email, password: password.trim() }))
      const beforeNul = await invoke(login, jsonEvent(LOGIN, { email, password: '  pass\u0000other  ' }))
      expect([asTyped.status, trimmed.status, beforeNul.status]).toEqual([200, 401, 401])
    })
  })

  describe('invalid input answers 422 with one entry per problem', () => {
    it('lists every missing field', async () => {
      const response = await registerUser({})
      expect(response.status).toBe(422)
      expect(response.body).toEqual({
        detail: [
          { loc: ['body', 'email'], msg: 'Field required', type: 'missing' },
          { loc: ['body', 'password'], msg: 'Field required', type: 'missing' },
        ],
      })
    })

    it.each([
      ['not an email', 'nope'],
      ['a non-ASCII address', 'jöhn@example.com'],
      // U+212A lower-cases to an ASCII k: the ASCII check must come first.
      ['a Kelvin sign, which lower-cases to ASCII', '\u212Aelvin@example.com'],
      [
        'an address over 254 characters',
        `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.com`,
      ],
      ['a control character', 'a\u0007b@example.com'],
      ['an embedded newline', 'a@example.com\nbcc@example.com'],
      ['a number', 42],
    ])('refuses %s as email', async (_label, email) => {
      const response = await registerUser({ email, password: 'correct horse' })
      expect(response.status).toBe(422)
      expect(response.body).toEqual({
        detail: [{ loc: ['body', 'email'], msg: expect.any(String), type: expect.any(String) }],
      })
    })

    it.each([['ab'], ['x'.repeat(51)], ['has space'], ['tab\tname'], ['nul\u0000name'], ['ünïcode']])(
      'refuses the username %j',
      async (username) => {
        const response = await registerUser({ email: uniqueEmail(), password: 'correct horse', username })
        expect(response.status).toBe(422)
        expect(response.body).toMatchObject({ detail: [{ loc: ['body', 'username'] }] })
      },
    )

    it('accepts a username of 3 and of 50 allowed characters', async () => {
      const three = await registerUser({
        email: uniqueEmail(),
        password: 'correct horse',
        username: `a.${String(process.pid % 10)}`,
      })
      expect([201, 400]).toContain(three.status)
      const fifty = uniqueUsername('x').padEnd(50, '-')
      expect(
        (await registerUser({ email: uniqueEmail(), password: 'correct horse', username: fifty })).status,
      ).toBe(201)
    })

    it.each([
      ['malformed JSON', '{"email": '],
      ['a JSON array', '[]'],
      ['a JSON string', '"hello"'],
      ['JSON null', 'null'],
      ['an empty body', ''],
    ])('answers 422 for %s, with loc ["body"]', async (_label, body) => {
      const response = await invoke(
        register,
        apiEvent('POST', REGISTER, body, { headers: { 'content-type': 'application/json' } }),
      )
      expect(response.status).toBe(422)
      expect(response.body).toEqual({
        detail: [{ loc: ['body'], msg: expect.any(String), type: expect.any(String) }],
      })
    })

    it('answers 415 for another content type, and 413 for a body over 64 KiB without parsing it', async () => {
      const form = await invoke(
        register,
        apiEvent('POST', REGISTER, 'email=a@b.co', {
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        }),
      )
      expect(form).toMatchObject({
        status: 415,
        body: { detail: 'Unsupported Media Type: send application/json' },
      })
      const big = `{"email":"${'a'.repeat(70_000)}`
      const tooLarge = await invoke(
        register,
        apiEvent('POST', REGISTER, big, { headers: { 'content-type': 'application/json' } }),
      )
      expect(tooLarge).toMatchObject({ status: 413, body: { detail: expect.any(String) } })
    })
  })

  it('gives exactly one 201 and no 5xx for 50 concurrent registrations of one email', {
    timeout: 180_000,
  }, async () => {
    const email = uniqueEmail('race')
    // Fifty Lambdas would each have their own CPU; here fifty bcrypt hashes queue for one, so each invocation gets
    // a deadline long enough for the queue (the race is at the database, which is what this test is about).
    const responses = await Promise.all(
      Array.from({ length: 50 }, () =>
        invoke(register, jsonEvent(REGISTER, { email, password: 'correct horse' }), { timeoutMs: 150_000 }),
      ),
    )
    const statuses = responses.map((response) => response.status)
    expect(statuses.filter((status) => status === 201)).toHaveLength(1)
    expect(statuses.filter((status) => status === 400)).toHaveLength(49)
    const rows = await database.db.select({ id: users.id }).from(users).where(eq(users.email, email))
    expect(rows).toHaveLength(1)
  })

  it('keeps updated_at current on every update, through the database trigger', async () => {
    const created = await registerUser({ email: uniqueEmail(), password: 'correct horse' })
    const id = (created.body as { id: number }).id
    await new Promise((resolve) => setTimeout(resolve, 20))
    await database.db.update(users).set({ isActive: true }).where(eq(users.id, id))
    const [row] = await database.db
      .select({ changed: sql<boolean>`${users.updatedAt} > ${users.createdAt}` })
      .from(users)
      .where(eq(users.id, id))
    expect(row?.changed).toBe(true)
  })
})
