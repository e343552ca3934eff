import bcrypt from 'bcryptjs'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { handler as exportAccount } from '#functions/export-account'
import { handler as getPreferences } from '#functions/get-preferences'
import { handler as login } from '#functions/login'
import { handler as logout } from '#functions/logout'
import { handler as me } from '#functions/me'
import { handler as refresh } from '#functions/refresh'
import { handler as register } from '#functions/register'
import { builtContainers } from '#shared/app/container'
import { bearerEvent, invoke, jsonEvent, uniqueEmail } from '#test/helpers/events'
import { loggedIn, registeredUser } from '#test/helpers/users'

afterEach(() => vi.restoreAllMocks())

/**
 * Counts the statements the handlers send, at the pools every repository goes through: each function's container
 * has its own (built when its module is imported, as in Lambda), so all of them are watched.
 */
async function countRoundTrips(action: () => Promise<unknown>): Promise<number> {
  const queries = builtContainers().map(({ database }) => vi.spyOn(database.pool, 'query'))
  await action()
  const count = queries.reduce((sum, query) => sum + query.mock.calls.length, 0)
  for (const query of queries) query.mockRestore()
  return count
}

describe('database round trips per request', () => {
  it('me: 1', async () => {
    const { access_token } = await loggedIn(await registeredUser())
    const trips = await countRoundTrips(async () => {
      expect((await invoke(me, bearerEvent('/api/v1/users/me', access_token))).status).toBe(200)
    })
    expect(trips).toBe(1)
  })

  it('register: 2, and 2 when the email is taken', async () => {
    const email = uniqueEmail()
    const body = { email, password: 'correct horse' }
    // The address's count before the hash (a refusal costs no hash, and a taken email or username stays counted),
    // then the insert and its audit event.
    expect(
      await countRoundTrips(async () =>
        expect((await invoke(register, jsonEvent('/api/v1/auth/register', body))).status).toBe(201),
      ),
    ).toBe(2)
    expect(
      await countRoundTrips(async () =>
        expect((await invoke(register, jsonEvent('/api/v1/auth/register', body))).status).toBe(400),
      ),
    ).toBe(2)
  })

  it('login: 2 on success, 1 on a wrong password', async () => {
    const user = await registeredUser()
    const ok = await countRoundTrips(async () =>
      expect(
        (await invoke(login, jsonEvent('/api/v1/auth/login', { email: user.email, password: user.password })))
          .status,
      ).toBe(200),
    )
    const wrong = await countRoundTrips(async () =>
      expect(
        (await invoke(login, jsonEvent('/api/v1/auth/login', { email: user.email, password: 'wrong one!' })))
          .status,
      ).toBe(401),
    )
    // Success: the lookup (the check counted on the email and the address), then one statement for the session,
    // the cleared failures, the address's place given back and the audit event.
    // Failure: the lookup, then one statement for the failure's audit events.
    expect([ok, wrong]).toEqual([2, 2])
  })

  it('login while the email is locked: 1, and no bcrypt', async () => {
    const user = await registeredUser()
    for (let attempt = 0; attempt < 10; attempt++) {
      await invoke(login, jsonEvent('/api/v1/auth/login', { email: user.email, password: 'wrong one!' }))
    }
    // The round trips say nothing of bcrypt: a spy on its compare counts what the refused login checked.
    const compare = vi.spyOn(bcrypt, 'compare')
    const locked = await countRoundTrips(async () =>
      expect(
        (await invoke(login, jsonEvent('/api/v1/auth/login', { email: user.email, password: user.password })))
          .status,
      ).toBe(429),
    )
    expect(locked).toBe(1)
    expect(compare).not.toHaveBeenCalled()
  })

  it('refresh: 1 on success; logout: 1', async () => {
    const pair = await loggedIn(await registeredUser())
    const rotated = await countRoundTrips(async () =>
      expect(
        (await invoke(refresh, jsonEvent('/api/v1/auth/refresh', { refresh_token: pair.refresh_token })))
          .status,
      ).toBe(200),
    )
    const loggedOut = await countRoundTrips(async () =>
      expect(
        (await invoke(logout, jsonEvent('/api/v1/auth/logout', { refresh_token: pair.refresh_token })))
          .status,
      ).toBe(204),
    )
    expect([rotated, loggedOut]).toEqual([1, 1])
  })

  it('export: 2, the caller’s session checked, then its sessions and events in one statement', async () => {
    const { access_token } = await loggedIn(await registeredUser())
    const trips = await countRoundTrips(async () => {
      expect((await invoke(exportAccount, bearerEvent('/api/v1/users/me/export', access_token))).status).toBe(
        200,
      )
    })
    expect(trips).toBe(2)
  })

  it('preferences: 2, the caller’s session checked, then the claims, the role and the read in one simple query', async () => {
    const { access_token } = await loggedIn(await registeredUser())
    const trips = await countRoundTrips(async () => {
      expect(
        (await invoke(getPreferences, bearerEvent('/api/v1/users/me/preferences', access_token))).status,
      ).toBe(200)
    })
    expect(trips).toBe(2)
  })
})
