import { describe, expect, it } from 'vitest'
import { formEvent, invoke, jsonEvent, uniqueEmail } from '#test/helpers/events'

// This file's own container (each test file runs in a process of its own): a small per-address limit.
process.env.LOGIN_IP_MAX_FAILURES = '5'
const { handler: login } = await import('#functions/login')
const { handler: token } = await import('#functions/token')
const { registeredUser } = await import('#test/helpers/users')

const LOGIN = '/api/v1/auth/login'
const wrongLogin = (email: string, sourceIp: string) =>
  invoke(login, jsonEvent(LOGIN, { email, password: 'not the password' }, { sourceIp }))

describe('password spraying: failed logins from one address across many emails', () => {
  it('answers 429 with Retry-After once the address has failed LOGIN_IP_MAX_FAILURES times, for any email', async () => {
    // Outside 198.18.0.0/15, where the other tests' random addresses fall (their failures would count here).
    const sprayer = '192.0.2.77'
    for (let attempt = 0; attempt < 5; attempt++) {
      expect((await wrongLogin(uniqueEmail('sprayed'), sprayer)).status).toBe(401)
    }
    const refused = await wrongLogin(uniqueEmail('sprayed'), sprayer)
    expect(refused).toMatchObject({ status: 429, body: { detail: 'Too many failed login attempts' } })
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0)

    // Even an account's right password, from that address; the token endpoint alike.
    const user = await registeredUser()
    const right = await invoke(
      login,
      jsonEvent(LOGIN, { email: user.email, password: user.password }, { sourceIp: sprayer }),
    )
    expect(right.status).toBe(429)
    const viaToken = await invoke(
      token,
      formEvent(
        '/api/v1/auth/token',
        { username: user.email, password: user.password },
        { sourceIp: sprayer },
      ),
    )
    expect(viaToken).toMatchObject({ status: 429, body: { detail: 'Too many failed login attempts' } })
    // Another address is not affected, and X-Forwarded-For is never read.
    const elsewhere = await invoke(
      login,
      jsonEvent(
        LOGIN,
        { email: user.email, password: user.password },
        { sourceIp: '198.51.100.200', headers: { 'x-forwarded-for': sprayer } },
      ),
    )
    expect(elsewhere.status).toBe(200)
  })

  it('counts only failures: successful logins from a shared address (a campus NAT) never reach the limit', async () => {
    const campus = '192.0.2.78'
    const user = await registeredUser()
    for (let attempt = 0; attempt < 8; attempt++) {
      const answer = await invoke(
        login,
        jsonEvent(LOGIN, { email: user.email, password: user.password }, { sourceIp: campus }),
      )
      expect(answer.status).toBe(200)
    }
  })
})
