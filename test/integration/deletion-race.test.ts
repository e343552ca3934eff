/**
 * A user deleting their account while the same account logs in elsewhere, refreshes in another tab and changes its
 * password, all at once, through the real handlers on PostgreSQL. Whichever order the database serializes them in,
 * nothing outlives a deletion that answered 204: no row of the account, no session, no refresh token, no address in
 * any table, and every token a racing request was handed is refused. A deletion that lost (the password changed
 * first, or its session ended) leaves a whole account behind. No request answers a 5xx.
 */
import { sql } from 'drizzle-orm'
import { afterAll, describe, expect, it } from 'vitest'
import { handler as changePassword } from '#functions/change-password'
import { handler as deleteAccount } from '#functions/delete-account'
import { handler as login } from '#functions/login'
import { handler as me } from '#functions/me'
import { handler as refresh } from '#functions/refresh'
import { columnsHolding, testDatabase } from '#test/helpers/database'
import { apiEvent, bearerEvent, invoke, jsonEvent } from '#test/helpers/events'
import { loggedIn, registeredUser, type TokenPairBody } from '#test/helpers/users'

const database = testDatabase()
afterAll(() => database.close())

const ROUNDS = 8
/** When the deletion starts after the others, per round: at once (first or last), in the thick of it, well after. */
const DELETION_DELAYS_MS = [0, 0, 150, 300, 0, 450, 0, 1500]
const NEW_PASSWORD = 'a different good password'

const deleteEvent = (token: string, password: string) =>
  apiEvent('DELETE', '/api/v1/users/me', JSON.stringify({ current_password: password }), {
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
  })

describe('a deletion racing a login, a refresh and a password change of the same account', () => {
  it('leaves nothing of a deleted account, and a whole one when the deletion lost', async () => {
    const outcomes: string[] = []
    for (let round = 0; round < ROUNDS; round++) {
      const user = await registeredUser()
      const tab = await loggedIn(user)
      // The four at once; the deletion starts first or last in turn, so each side gets its head start.
      const racers = [
        () => invoke(login, jsonEvent('/api/v1/auth/login', { email: user.email, password: user.password })),
        () => invoke(refresh, jsonEvent('/api/v1/auth/refresh', { refresh_token: tab.refresh_token })),
        () =>
          invoke(
            changePassword,
            apiEvent(
              'POST',
              '/api/v1/users/me/password',
              JSON.stringify({ current_password: user.password, new_password: NEW_PASSWORD }),
              {
                headers: { authorization: `Bearer ${tab.access_token}`, 'content-type': 'application/json' },
              },
            ),
          ),
      ]
      // In some rounds the deletion starts later, so that the change (two bcrypt runs) sometimes commits first.
      const delay = DELETION_DELAYS_MS[round % DELETION_DELAYS_MS.length] ?? 0
      const deletion = async () => {
        await new Promise((resolve) => setTimeout(resolve, delay))
        return invoke(deleteAccount, deleteEvent(tab.access_token, user.password))
      }
      const ordered = round % 2 === 0 ? [deletion, ...racers] : [...racers, deletion]
      const answers = await Promise.all(ordered.map((run) => run()))
      const deleted = answers[round % 2 === 0 ? 0 : 3]
      const [loginAnswer, refreshAnswer, changeAnswer] =
        round % 2 === 0 ? answers.slice(1) : answers.slice(0, 3)
      for (const answer of answers) expect(answer.status, JSON.stringify(answer.body)).toBeLessThan(500)
      expect([204, 400, 401]).toContain(deleted?.status)

      const handedOut = [loginAnswer, refreshAnswer]
        .filter((answer) => answer?.status === 200)
        .map((answer) => answer?.body as TokenPairBody)
      const stored = await database.db.execute<{ users: number; sessions: number; tokens: number }>(sql`
        select (select count(*)::int from users where id = ${user.id}) as users,
          (select count(*)::int from sessions where user_id = ${user.id}) as sessions,
          (select count(*)::int from refresh_tokens t join sessions s on s.id = t.session_id
            where s.user_id = ${user.id}) as tokens`)

      if (deleted?.status === 204) {
        outcomes.push(
          `deleted (login ${loginAnswer?.status}, refresh ${refreshAnswer?.status}, change ${changeAnswer?.status})`,
        )
        expect(stored.rows[0]).toEqual({ users: 0, sessions: 0, tokens: 0 })
        // The failed-login counter of the address typed at the login form is the form's, and ends with its window.
        expect(
          (await columnsHolding(database.service, user.email)).filter(
            (where) => where !== 'login_attempts.email',
          ),
        ).toEqual([])
        for (const pair of [tab, ...handedOut]) {
          expect((await invoke(me, bearerEvent('/api/v1/users/me', pair.access_token))).status).toBe(401)
          expect(
            (await invoke(refresh, jsonEvent('/api/v1/auth/refresh', { refresh_token: pair.refresh_token })))
              .status,
          ).toBe(401)
        }
        for (const password of [user.password, NEW_PASSWORD])
          expect(
            (await invoke(login, jsonEvent('/api/v1/auth/login', { email: user.email, password }))).status,
          ).toBe(401)
      } else {
        outcomes.push(`kept (${deleted?.status}; change ${changeAnswer?.status})`)
        // The password changed first (400: the one given is no longer the account's) or the session the deletion
        // came with ended (401): the account is whole, and its owner logs in with the password that stands.
        expect(stored.rows[0]?.users).toBe(1)
        const password = changeAnswer?.status === 204 ? NEW_PASSWORD : user.password
        expect(
          (await invoke(login, jsonEvent('/api/v1/auth/login', { email: user.email, password }))).status,
        ).toBe(200)
      }
    }
    // Both ways round happened: a deletion that won, and one that found the password changed first.
    expect(
      outcomes.filter((outcome) => outcome.startsWith('deleted')).length,
      outcomes.join('\n'),
    ).toBeGreaterThan(0)
    expect(
      outcomes.filter((outcome) => outcome.startsWith('kept')).length,
      outcomes.join('\n'),
    ).toBeGreaterThan(0)
  }, 120_000)
})

describe('an event written for an account after its erasure', () => {
  it('keeps the id and what happened, never the address (a failed login that read the account before it went)', async () => {
    const user = await registeredUser()
    const { access_token } = await loggedIn(user)
    expect((await invoke(deleteAccount, deleteEvent(access_token, user.password))).status).toBe(204)
    // As the login repository writes a failure of an account it had found, by the API's own role's rules.
    await database.db.execute(
      sql`insert into security_events (type, user_id, email) values ('login_failure', ${user.id}, ${user.email})`,
    )
    const events = await database.db.execute<{ type: string; email: string | null }>(
      sql`select type, email from security_events where user_id = ${user.id} and type = 'login_failure'`,
    )
    expect(events.rows).toEqual([{ type: 'login_failure', email: null }])
    // A live account's events keep its address.
    const other = await registeredUser()
    await database.db.execute(
      sql`insert into security_events (type, user_id, email) values ('login_failure', ${other.id}, ${other.email})`,
    )
    const kept = await database.db.execute<{ email: string | null }>(
      sql`select email from security_events where user_id = ${other.id} and type = 'login_failure'`,
    )
    expect(kept.rows).toEqual([{ email: other.email }])
  })
})
