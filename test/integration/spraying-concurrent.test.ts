/**
 * Password spraying under concurrency: the per-address limit is exact, as the per-email lock is. Each check takes
 * its place in the address's window in the statement that reserves it on the email, before the compare; a check
 * whose password is right gives it back.
 */
import bcrypt from 'bcryptjs'
import { sql } from 'drizzle-orm'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { testDatabase } from '#test/helpers/database'
import { bearerEvent, formEvent, invoke, jsonEvent, uniqueEmail } from '#test/helpers/events'

// This file's own container (each test file runs in a process of its own): a per-address limit of 20.
process.env.LOGIN_IP_MAX_FAILURES = '20'
const LIMIT = 20
const { handler: login } = await import('#functions/login')
const { handler: token } = await import('#functions/token')
const { handler: changePassword } = await import('#functions/change-password')
const { handler: me } = await import('#functions/me')
const { registeredUser } = await import('#test/helpers/users')

const LOGIN = '/api/v1/auth/login'
const TOKEN = '/api/v1/auth/token'
const database = testDatabase()
afterAll(() => database.close())
afterEach(() => vi.restoreAllMocks())

/** Many invocations share this process's one CPU and its serialised bcrypt: a generous deadline for each. */
const SLOW = { timeoutMs: 120_000 }

const placesTaken = async (sourceIp: string) =>
  (
    await database.db.execute<{ hits: number }>(
      sql`select hits from rate_limits where key = ${`login-failures:${sourceIp}`}`,
    )
  ).rows[0]?.hits ?? 0

describe('password spraying from one address, all at once', () => {
  it('checks at most LOGIN_IP_MAX_FAILURES of 60 concurrent guesses over 60 emails (login and token); the rest 429', async () => {
    // Outside 198.18.0.0/15, where the other tests' random addresses fall.
    const sprayer = '192.0.2.90'
    // Some emails are accounts, most unknown: each is checked the same way, one compare.
    const accounts = await Promise.all(Array.from({ length: 4 }, () => registeredUser()))
    const emails = [
      ...accounts.map((account) => account.email),
      ...Array.from({ length: 56 }, () => uniqueEmail('sprayed')),
    ]
    const compare = vi.spyOn(bcrypt, 'compare')
    const answers = await Promise.all(
      emails.map((email, index) =>
        index % 2 === 0
          ? invoke(
              login,
              jsonEvent(LOGIN, { email, password: 'not the password' }, { sourceIp: sprayer }),
              SLOW,
            )
          : invoke(
              token,
              formEvent(TOKEN, { username: email, password: 'not the password' }, { sourceIp: sprayer }),
              SLOW,
            ),
      ),
    )

    expect(compare.mock.calls.length).toBeLessThanOrEqual(LIMIT)
    const refused = answers.filter((answer) => answer.status === 429)
    const checked = answers.filter((answer) => answer.status !== 429)
    // The limit is filled exactly: no check is refused while the address has room.
    expect(compare).toHaveBeenCalledTimes(LIMIT)
    expect(checked).toHaveLength(LIMIT)
    expect(checked.every((answer) => answer.status === 401 || answer.status === 400)).toBe(true)
    expect(refused).toHaveLength(emails.length - LIMIT)
    for (const answer of refused) {
      expect(answer.body).toEqual({ detail: 'Too many failed login attempts' })
      expect(Number(answer.headers['retry-after'])).toBeGreaterThan(0)
    }
    expect(await placesTaken(sprayer)).toBe(LIMIT)
  }, 180_000)

  it('never counts a success: concurrent right passwords (login, token, a password change) give their places back', async () => {
    const campus = '192.0.2.91'
    const users = await Promise.all(Array.from({ length: 5 }, () => registeredUser()))
    for (let wave = 0; wave < 3; wave++) {
      const answers = await Promise.all(
        users.map(({ email, password }, index) =>
          (index + wave) % 2 === 0
            ? invoke(login, jsonEvent(LOGIN, { email, password }, { sourceIp: campus }), SLOW)
            : invoke(token, formEvent(TOKEN, { username: email, password }, { sourceIp: campus }), SLOW),
        ),
      )
      expect(answers.map((answer) => answer.status)).toEqual(users.map(() => 200))
    }
    expect(await placesTaken(campus)).toBe(0)

    // A change of password checks the current one as a login does: right, it gives its place back too.
    const [user] = users
    if (!user) throw new Error('no user')
    const pair = (
      await invoke(
        login,
        jsonEvent(LOGIN, { email: user.email, password: user.password }, { sourceIp: campus }),
      )
    ).body as { access_token: string }
    const changed = await invoke(
      changePassword,
      jsonEvent(
        '/api/v1/users/me/password',
        { current_password: user.password, new_password: 'a brand new password' },
        { sourceIp: campus, headers: { authorization: `Bearer ${pair.access_token}` } },
      ),
    )
    expect(changed.status).toBe(204)
    expect(await placesTaken(campus)).toBe(0)
    expect((await invoke(me, bearerEvent('/api/v1/users/me', pair.access_token))).status).toBe(200)

    // The whole budget is still there for failures: LIMIT wrong passwords are checked, the next is refused.
    const wrong = await Promise.all(
      Array.from({ length: LIMIT }, () =>
        invoke(
          login,
          jsonEvent(LOGIN, { email: uniqueEmail('campus'), password: 'wrong' }, { sourceIp: campus }),
          SLOW,
        ),
      ),
    )
    expect(wrong.map((answer) => answer.status)).toEqual(wrong.map(() => 401))
    expect(
      (
        await invoke(
          login,
          jsonEvent(LOGIN, { email: user.email, password: 'a brand new password' }, { sourceIp: campus }),
        )
      ).status,
    ).toBe(429)
  }, 180_000)
})
