/**
 * The HTTP layer's authentication of a route's declared callers, with a fake authenticator (no database): who gets
 * through, who gets 401 or 403, and that it runs before the body is looked at.
 */
import * as v from 'valibot'
import { describe, expect, it, vi } from 'vitest'
import { InvalidTokenError, StaleAuthenticationError } from '#shared/domain/errors'
import type { SessionPrincipal } from '#shared/domain/principal'
import type { UserRecord } from '#shared/domain/users'
import type { Callers } from '#shared/http/authentication'
import { httpHandler, ok, type ParsedEvent } from '#shared/http/handler'
import { apiEvent, bearerEvent, invoke } from '#test/helpers/events'
import { userRecord } from '#test/helpers/records'

const user = (isSuperuser: boolean): UserRecord =>
  userRecord({
    id: isSuperuser ? 1 : 2,
    email: isSuperuser ? 'root@example.com' : 'plain@example.com',
    hashedPassword: '$2b$10$hash',
    isSuperuser,
  })

const RECENT = new Date()
const LONG_AGO = new Date(Date.now() - 2 * 3600_000)

/**
 * Tokens `root` and `plain` name a superuser and a plain user of a recent login, `stale-root` a superuser whose login
 * is two hours old; anything else is refused as the service refuses it.
 */
const authenticate = vi.fn(async (token: string): Promise<SessionPrincipal> => {
  if (token === 'root') return { user: user(true), sessionId: 'root-session', authTime: RECENT }
  if (token === 'stale-root') return { user: user(true), sessionId: 'root-session', authTime: LONG_AGO }
  if (token === 'plain') return { user: user(false), sessionId: 'plain-session', authTime: LONG_AGO }
  throw new InvalidTokenError()
})
/** As the auth service judges it, with ADMIN_MAX_AUTH_AGE_SECONDS at an hour. */
const requireRecentLogin = ({ authTime }: SessionPrincipal) => {
  if (!authTime || Date.now() - authTime.getTime() > 3600_000) throw new StaleAuthenticationError(3600)
}
const dependencies = async () => ({ authenticate, requireRecentLogin })

const echo = async ({ principal }: ParsedEvent<unknown, SessionPrincipal>) =>
  ok({ id: principal.user.id, session: principal.sessionId })

const routeFor = (callers: 'session' | 'superuser', body?: v.GenericSchema) =>
  httpHandler(echo, { callers, dependencies, ...(body ? { body } : {}) })

const NOT_PRIVILEGED = { detail: "The user doesn't have enough privileges" }

describe('a route for superusers', () => {
  const handler = routeFor('superuser')

  it('hands the handler the superuser and their session', async () => {
    expect(await invoke(handler, bearerEvent('/admin', 'root'))).toMatchObject({
      status: 200,
      body: { id: 1, session: 'root-session' },
    })
  })

  it('answers 403 to an authenticated plain user, without running the handler', async () => {
    const answer = await invoke(handler, bearerEvent('/admin', 'plain'))
    expect(answer).toMatchObject({ status: 403, body: NOT_PRIVILEGED })
    expect(answer.headers['www-authenticate']).toBeUndefined()
  })

  it('answers 401 insufficient_user_authentication with max_age to a superuser whose login is too old (RFC 9470)', async () => {
    expect(await invoke(handler, bearerEvent('/admin', 'stale-root'))).toMatchObject({
      status: 401,
      body: { detail: 'A more recent login is required' },
      headers: {
        'www-authenticate':
          'Bearer error="insufficient_user_authentication", error_description="A more recent login is required", max_age="3600"',
      },
    })
  })

  it('answers 401 without a token, and 401 invalid_token for a refused one', async () => {
    expect(await invoke(handler, apiEvent('GET', '/admin'))).toMatchObject({
      status: 401,
      body: { detail: 'Not authenticated' },
      headers: { 'www-authenticate': 'Bearer' },
    })
    expect(await invoke(handler, bearerEvent('/admin', 'forged'))).toMatchObject({
      status: 401,
      body: { detail: 'Could not validate credentials' },
      headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
    })
  })
})

describe('a route for a live session’s user', () => {
  it('lets a plain user and a superuser through alike', async () => {
    const handler = routeFor('session')
    expect((await invoke(handler, bearerEvent('/me', 'plain'))).body).toEqual({
      id: 2,
      session: 'plain-session',
    })
    expect((await invoke(handler, bearerEvent('/me', 'root'))).body).toEqual({
      id: 1,
      session: 'root-session',
    })
  })

  it('authenticates before the body is parsed: no token and a bad body is 401, not 422 or 415', async () => {
    const handler = routeFor('session', v.object({ name: v.string() }))
    expect((await invoke(handler, apiEvent('POST', '/me', 'not json'))).status).toBe(401)
    const wrongType = apiEvent('POST', '/me', '{}', { headers: { 'content-type': 'text/plain' } })
    expect((await invoke(handler, wrongType)).status).toBe(401)
  })
})

describe('a route for any holder of a token the gateway verified', () => {
  const handler = httpHandler(async ({ principal }) => ok(principal), { callers: 'token' })
  const withClaims = (claims?: Record<string, string>) => {
    const event = apiEvent('GET', '/claims')
    if (claims) Object.assign(event.requestContext, { authorizer: { jwt: { claims, scopes: null } } })
    return event
  }

  it('hands the handler the gateway’s claims, without asking anyone', async () => {
    authenticate.mockClear()
    const claims = { sub: '7', sid: 's-1', iss: 'https://issuer' }
    expect((await invoke(handler, withClaims(claims))).body).toEqual({ userId: 7, sessionId: 's-1', claims })
    expect(authenticate).not.toHaveBeenCalled()
  })

  it('fails closed (401) when the route was reached without the authorizer, or its subject is no user id', async () => {
    expect((await invoke(handler, withClaims())).status).toBe(401)
    expect((await invoke(handler, withClaims({ sub: 'not-a-number' }))).status).toBe(401)
  })
})

describe('a route for anyone', () => {
  it('asks for nothing and hands the handler no principal', async () => {
    const handler = httpHandler(async ({ principal }) => ok({ principal: principal ?? null }), {
      callers: 'anyone' satisfies Callers,
    })
    expect((await invoke(handler, apiEvent('GET', '/open'))).body).toEqual({ principal: null })
  })
})
