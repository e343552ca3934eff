import { randomUUID } from 'node:crypto'
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager'
import { decodeProtectedHeader } from 'jose'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { startLocalSecretsManager } from '#infra/local/secrets-manager'
import { createSigningKeyRotation, ROTATION_STEPS } from '#shared/app/signing-key-rotation'
import { parseSigningKeySet } from '#shared/domain/signing-keys'
import { MIN_PUBLICATION_MS } from '#shared/platform/key-rotation-timing'
import { INTEGER_SETTINGS } from '#shared/platform/settings'
import { apiEvent, bearerEvent, invoke, jsonEvent } from '#test/helpers/events'

/**
 * A rotation end to end, as deployed: the functions read the keys from Secrets Manager (the local stand-in, through
 * the real SDK), the rotation function's four steps run against it, and the functions see each rotation once their
 * keys are old enough to be read again. A new key is published before it signs; a token of the old key stays valid
 * while that key is `previous`, and is refused once a second rotation withdraws it.
 */
type Handler = Parameters<typeof invoke>[0]
const SIGNING = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:SigningKeys-RoTaTe'
const PUBLIC = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:PublicKeys-RoTaTe'

const values = new Map([
  [SIGNING, `placeholder-${randomUUID()}`],
  [PUBLIC, `placeholder-${randomUUID()}`],
])
let secrets: Awaited<ReturnType<typeof startLocalSecretsManager>>
let client: SecretsManagerClient
let handlers: { login: Handler; me: Handler; jwks: Handler }
// Imported after the settings are set: it imports the register and login functions, which start at import.
let registeredUser: typeof import('#test/helpers/users').registeredUser
const inline = process.env.JWT_SIGNING_KEYS
// The rotation's own clock: it refuses to promote a key published for less than MIN_PUBLICATION_MS.
let rotationClock = new Date()

beforeAll(async () => {
  secrets = await startLocalSecretsManager(values)
  client = new SecretsManagerClient({
    endpoint: secrets.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDROTATIONE2E', secretAccessKey: 'rotation-e2e' },
  })
  // The functions' settings, before any of them is imported (a function reads them once, at its cold start).
  delete process.env.JWT_SIGNING_KEYS
  Object.assign(process.env, {
    JWT_SIGNING_KEYS_SECRET_ARN: SIGNING,
    JWT_PUBLIC_KEYS_SECRET_ARN: PUBLIC,
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
    AWS_ACCESS_KEY_ID: 'AKIDROTATIONE2E',
    AWS_SECRET_ACCESS_KEY: 'rotation-e2e',
  })
  await rotate() // a first key set from the placeholder (the deploy makes it without a rotation, to the same effect)
  registeredUser = (await import('#test/helpers/users')).registeredUser
  handlers = {
    login: (await import('#functions/login')).handler,
    me: (await import('#functions/me')).handler,
    jwks: (await import('#functions/jwks')).handler,
  }
})
afterAll(async () => {
  client?.destroy()
  await secrets?.close()
  process.env.JWT_SIGNING_KEYS = inline
  for (const name of [
    'JWT_SIGNING_KEYS_SECRET_ARN',
    'JWT_PUBLIC_KEYS_SECRET_ARN',
    'AWS_ENDPOINT_URL_SECRETS_MANAGER',
  ])
    delete process.env[name]
})

/** One whole rotation, as Secrets Manager runs it: AWSPENDING on a new version, then the four steps in order. */
async function rotate() {
  const rotation = createSigningKeyRotation({
    client,
    publicKeysSecretId: PUBLIC,
    accessTokenTtlSeconds: INTEGER_SETTINGS.ACCESS_TOKEN_TTL_SECONDS.default,
    now: () => rotationClock,
  })
  const token = randomUUID()
  secrets.startRotation(SIGNING, token)
  for (const Step of ROTATION_STEPS)
    await rotation.rotate({ Step, SecretId: SIGNING, ClientRequestToken: token })
}

const stored = () => parseSigningKeySet(values.get(SIGNING) ?? '') ?? expect.fail('no key set')
const publishedKids = async () =>
  (
    (await invoke(handlers.jwks, apiEvent('GET', '/.well-known/jwks.json'))).body as {
      keys: { kid: string }[]
    }
  ).keys
    .map((key) => key.kid)
    .sort()

let aheadMs = 0

/**
 * Lets the functions' keys age past the longest a container may use them (ten minutes: then it reads them again
 * before it signs or verifies, as in Lambda), then waits until the JWKS serves `kids`, login signs with `signingKid`,
 * and `meSees` holds: `me` has its own container, which reads the keys on its own clock.
 */
async function functionsSee(
  kids: string[],
  signingKid: string,
  signIn: () => Promise<string>,
  meSees: () => Promise<void>,
) {
  // Each call further ahead than the last: the keys' age counts from when they were last read, on this clock.
  aheadMs += 11 * 60 * 1000
  vi.useFakeTimers({ toFake: ['Date'] })
  vi.setSystemTime(Date.now() + aheadMs)
  try {
    await vi.waitFor(async () => expect(await publishedKids()).toEqual([...kids].sort()), { timeout: 5000 })
    await vi.waitFor(async () => expect(decodeProtectedHeader(await signIn()).kid).toBe(signingKid), {
      timeout: 10_000,
    })
    await vi.waitFor(meSees, { timeout: 10_000 })
  } finally {
    vi.useRealTimers()
  }
}

describe('signing key rotation, end to end', () => {
  it('publishes a key before it signs, keeps the old one for its tokens, then withdraws it', async () => {
    const user = await registeredUser()
    const signIn = async () => {
      const answer = await invoke(handlers.login, jsonEvent('/api/v1/auth/login', user))
      expect(answer.status).toBe(200)
      return (answer.body as { access_token: string }).access_token
    }
    const me = (token: string) => invoke(handlers.me, bearerEvent('/api/v1/users/me', token))

    const first = stored()
    // The first set: A signs, B is already published.
    expect(await publishedKids()).toEqual([first.current.kid, first.next.kid].sort())
    const tokenOfA = await signIn()
    expect(decodeProtectedHeader(tokenOfA).kid).toBe(first.current.kid)

    // A rotation once B has been published long enough: B signs, A stays published as previous.
    rotationClock = new Date(rotationClock.getTime() + MIN_PUBLICATION_MS + 60_000)
    await rotate()
    const second = stored()
    expect([second.previous?.kid, second.current.kid]).toEqual([first.current.kid, first.next.kid])
    await functionsSee(
      [second.previous?.kid ?? '', second.current.kid, second.next.kid],
      second.current.kid,
      signIn,
      async () => expect((await me(await signIn())).status).toBe(200),
    )
    const tokenOfB = await signIn()
    expect(decodeProtectedHeader(tokenOfB).kid).toBe(first.next.kid)
    expect((await me(tokenOfA)).status).toBe(200)
    expect((await me(tokenOfB)).status).toBe(200)

    // The next rotation withdraws A: its tokens (expired by then in production) are refused.
    rotationClock = new Date(rotationClock.getTime() + MIN_PUBLICATION_MS + 60_000)
    await rotate()
    const third = stored()
    await functionsSee(
      [third.previous?.kid ?? '', third.current.kid, third.next.kid],
      third.current.kid,
      signIn,
      // Asks me once while its keys are aged, so it reads them again (A's token is expired on this clock anyway, so
      // the refusal is checked below, on the real one).
      async () => void (await me(tokenOfB)),
    )
    expect(await publishedKids()).not.toContain(first.current.kid)
    // Once me has read the third set, A's tokens are refused (C, the new signer, was published in the second set
    // already, so only A's withdrawal tells the third set from the second).
    await vi.waitFor(
      async () =>
        expect(await me(tokenOfA)).toMatchObject({
          status: 401,
          body: { detail: 'Could not validate credentials' },
        }),
      { timeout: 10_000 },
    )
    expect((await me(tokenOfB)).status).toBe(200)
  })
})
