/**
 * The front end's client (client/) in Node against the local stack as `npm start` builds it: the whole flow of an app
 * (register, login, me, its own API through the client's fetch, a refresh, a logout), the contract's error bodies as
 * `ApiError`s, a refresh answer lost on the way, and the generated types held against the document the API serves.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ApiError, createAuthClient } from '#client/src/index'
import { type LocalStack, startLocalStack } from '#infra/local/local-stack'
import { uniqueEmail } from '#test/helpers/events'
import { CLIENT_TYPES_FILE, clientTypes, type OpenApiLike } from '../../scripts/client-types.ts'

const PASSWORD = 'correct horse battery'
let stack: LocalStack
let origin: string

beforeAll(async () => {
  process.env.ADMIN_EMAIL = 'admin@example.com'
  process.env.ADMIN_PASSWORD = randomBytes(18).toString('base64url')
  process.env.BCRYPT_COST = '10'
  // Two failures lock an email, so that a real 429 comes quickly.
  process.env.LOGIN_MAX_FAILURES = '2'
  delete process.env.REFRESH_TOKEN_REUSE_INTERVAL_SECONDS
  stack = await startLocalStack({ setup: 'functions', server: {} })
  if (!stack.server) throw new Error('the stack serves no API')
  origin = stack.server.url
}, 120_000)

afterAll(async () => {
  await stack?.stop()
})

/** The session an access token names (its `sid` claim). */
const sidOf = (token: string | undefined) =>
  (JSON.parse(Buffer.from(token?.split('.')[1] ?? '', 'base64url').toString()) as { sid: string }).sid

describe('the client in Node, against the local stack', () => {
  it('registers, logs in, reads the user, calls an API of the app, refreshes and logs out', async () => {
    const auth = createAuthClient({ baseUrl: origin })
    const signedOut: string[] = []
    auth.on('signedOut', ({ reason }) => signedOut.push(reason))
    const email = uniqueEmail('node-flow')

    const user = await auth.register({ email, password: PASSWORD, username: null })
    expect(user).toMatchObject({ email, username: null, is_active: true, email_verified: false })
    expect(await auth.isSignedIn()).toBe(false)

    await auth.login({ email, password: PASSWORD })
    expect(await auth.me()).toEqual(user)

    // An API of the app behind the gateway's JWT authorizer: it gets the token, and the claims it verified.
    const claims = await auth.fetch(`${origin}/api/v1/auth/claims`)
    expect(claims.status).toBe(200)
    expect(await claims.json()).toMatchObject({ sub: String(user.id) })

    const before = await auth.accessToken()
    expect(await auth.refresh()).toBe(true)
    const after = await auth.accessToken()
    expect(after).not.toBe(before)
    expect(sidOf(after)).toBe(sidOf(before))
    expect(await auth.sessions()).toMatchObject([{ current: true }])

    await auth.logout()
    expect(await auth.isSignedIn()).toBe(false)
    await new Promise((done) => setTimeout(done, 10))
    expect(signedOut).toEqual(['logout'])
    // The API ended the session too: the last access token is refused.
    const refused = await fetch(`${origin}/api/v1/users/me`, {
      headers: { authorization: `Bearer ${after}` },
    })
    expect(refused.status).toBe(401)
    auth.close()
  })

  it('keeps a session through the OAuth 2.0 form grant as through login', async () => {
    const email = uniqueEmail('node-form')
    const auth = createAuthClient({ baseUrl: origin })
    await auth.register({ email, password: PASSWORD })
    await auth.passwordGrant({ username: email, password: PASSWORD })
    expect(await auth.me()).toMatchObject({ email })
    auth.close()
  })

  it('throws the contract’s error bodies as ApiError: 422 problems, 400, 401, RFC 6749, 429 with Retry-After', async () => {
    const auth = createAuthClient({ baseUrl: origin })
    const email = uniqueEmail('node-errors')
    const caught = (promise: Promise<unknown>) =>
      promise.then(
        () => undefined,
        (error: unknown) => error,
      )

    const invalid = await caught(auth.register({ email: 'not an email', password: 'short' }))
    expect(invalid).toBeInstanceOf(ApiError)
    expect(invalid).toMatchObject({
      status: 422,
      body: {
        detail: [
          { loc: ['body', 'email'], type: expect.any(String) },
          { loc: ['body', 'password'], type: expect.any(String) },
        ],
      },
    })

    await auth.register({ email, password: PASSWORD })
    expect(await caught(auth.register({ email, password: PASSWORD }))).toMatchObject({
      status: 400,
      body: { detail: 'User with this email already exists' },
      message: 'User with this email already exists',
    })
    expect(await caught(auth.login({ email, password: 'wrong password' }))).toMatchObject({
      status: 401,
      body: { detail: 'Incorrect email or password' },
    })
    expect(await caught(auth.passwordGrant({ username: email, password: 'wrong password' }))).toMatchObject({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'Incorrect email or password' },
    })
    const locked = (await caught(auth.login({ email, password: PASSWORD }))) as ApiError
    expect(locked).toMatchObject({ status: 429, body: { detail: 'Too many failed login attempts' } })
    expect(locked.retryAfter).toBeGreaterThan(0)
    expect(locked.retryAfter).toBe(Number(locked.headers.get('retry-after')))
    auth.close()
  })

  it('sends a refresh again when its answer is lost, and gets a pair of the same session', async () => {
    let lost = 0
    const auth = createAuthClient({
      baseUrl: origin,
      // The network between the app and the API: the first refresh reaches the API, its answer never comes back.
      fetch: async (input, init) => {
        const answer = await fetch(input, init)
        if (String(input).endsWith('/auth/refresh') && lost++ === 0) throw new TypeError('fetch failed')
        return answer
      },
    })
    const email = uniqueEmail('node-lost')
    await auth.register({ email, password: PASSWORD })
    await auth.login({ email, password: PASSWORD })
    const before = await auth.accessToken()
    expect(await auth.refresh()).toBe(true)
    expect(lost).toBe(2)
    expect(sidOf(await auth.accessToken())).toBe(sidOf(before))
    expect(await auth.me()).toMatchObject({ email })
    const events = (await auth.exportAccount()).security_events.map((event) => event.type)
    expect(events.filter((type) => type === 'refresh')).toHaveLength(2)
    expect(events).not.toContain('refresh_reuse_detected')
    auth.close()
  })

  it('was generated from the very document the API serves', async () => {
    const served = (await (await fetch(`${origin}/api/v1/openapi.json`)).json()) as OpenApiLike
    expect(clientTypes(served)).toBe(readFileSync(CLIENT_TYPES_FILE, 'utf8'))
  })
})
