import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { startLocalSecretsManager } from '#infra/local/secrets-manager'
import { KEYS_REFRESH_AFTER_MS } from '#shared/app/keys'
import { generateSigningKey, publishedKeys } from '#shared/domain/signing-keys'
import { KEY_SET_MAX_AGE_MS } from '#shared/platform/key-rotation-timing'
import { apiEvent, bearerEvent, invoke, jsonEvent } from '#test/helpers/events'
import { testSigningKeys } from '#test/helpers/keys'

type Handler = Parameters<typeof invoke>[0]

const SIGNING = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:SigningKeys-AbCdEf'
const PUBLIC = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:PublicKeys-AbCdEf'
/** What the stack's secrets hold after a deploy, before their rotation function writes the first key set. */
const PLACEHOLDER = 'uT4kq9ZrW2xYb7NcV5mL3pQs8dFg6hJa'
const UNAVAILABLE = {
  status: 503,
  body: { detail: 'Service temporarily unavailable' },
  headers: { 'retry-after': '5' },
}

/** What each secret holds now (the local Secrets Manager's AWSCURRENT): the placeholder until the test writes the key set. */
const stored = new Map([
  [SIGNING, PLACEHOLDER],
  [PUBLIC, PLACEHOLDER],
])
const inline = process.env.JWT_SIGNING_KEYS
let handlers: { jwks: Handler; login: Handler; me: Handler }
let secretsManager: Awaited<ReturnType<typeof startLocalSecretsManager>>

beforeAll(async () => {
  // Set before any handler is imported: a function reads its settings once, at its cold start.
  delete process.env.JWT_SIGNING_KEYS
  process.env.JWT_SIGNING_KEYS_SECRET_ARN = SIGNING
  process.env.JWT_PUBLIC_KEYS_SECRET_ARN = PUBLIC
  process.env.AWS_REGION = 'eu-west-1'
  // Secrets Manager over its wire protocol, as the functions' signed requests reach the real one.
  secretsManager = await startLocalSecretsManager(stored)
  process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = secretsManager.url
  process.env.AWS_ACCESS_KEY_ID = 'AKIDTEST'
  process.env.AWS_SECRET_ACCESS_KEY = 'test-secret'
  handlers = {
    jwks: (await import('#functions/jwks')).handler,
    login: (await import('#functions/login')).handler,
    me: (await import('#functions/me')).handler,
  }
})

afterAll(async () => {
  await secretsManager?.close()
  delete process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER
  process.env.JWT_SIGNING_KEYS = inline
  delete process.env.JWT_SIGNING_KEYS_SECRET_ARN
  delete process.env.JWT_PUBLIC_KEYS_SECRET_ARN
})

describe('a key set not created yet (the secrets still hold their placeholder)', () => {
  const unknown = () =>
    jsonEvent('/api/v1/auth/login', { email: 'nobody@example.com', password: 'whatever it is' })
  const jwks = () => apiEvent('GET', '/.well-known/jwks.json')

  it('answers 503 with Retry-After on every request, signing nothing, the secrets read again each time', async () => {
    for (let attempt = 0; attempt < 2; attempt++) {
      expect(await invoke(handlers.jwks, jwks())).toMatchObject(UNAVAILABLE)
      expect(await invoke(handlers.login, unknown())).toMatchObject(UNAVAILABLE)
      expect(await invoke(handlers.me, bearerEvent('/api/v1/users/me', 'a.b.c'))).toMatchObject(UNAVAILABLE)
    }
  })

  it('serves the keys, and logs in, from the first request after the key set is written', async () => {
    const keys = testSigningKeys()
    stored.set(SIGNING, JSON.stringify(keys))
    stored.set(PUBLIC, JSON.stringify({ keys: publishedKeys(keys) }))

    expect(await invoke(handlers.jwks, jwks())).toMatchObject({
      status: 200,
      body: { keys: publishedKeys(keys) },
    })
    expect(await invoke(handlers.login, unknown())).toMatchObject({
      status: 401,
      body: { detail: 'Incorrect email or password' },
    })
  })

  it('reads the keys again in the background once they are KEYS_REFRESH_AFTER_MS old, so a rotation reaches a warm container', async () => {
    const keys = testSigningKeys()
    const rotated = { current: keys.next, next: generateSigningKey(new Date()), previous: keys.current }
    stored.set(PUBLIC, JSON.stringify({ keys: publishedKeys(rotated) }))
    // Within the age, the keys read at the cold start.
    expect(await served()).toEqual({ keys: publishedKeys(keys) })

    vi.useFakeTimers({ toFake: ['Date'] })
    try {
      vi.setSystemTime(Date.now() + KEYS_REFRESH_AFTER_MS)
      // The request that finds them old is answered with them while they are read again in the background.
      expect(await served()).toEqual({ keys: publishedKeys(keys) })
      await vi.waitFor(async () => expect(await served()).toEqual({ keys: publishedKeys(rotated) }))
    } finally {
      vi.useRealTimers()
    }
  })

  it('never answers with keys older than KEY_SET_MAX_AGE_MS: after a freeze, the first request waits for them', async () => {
    const keys = testSigningKeys()
    const again = { current: keys.next, next: generateSigningKey(new Date()), previous: keys.current }
    const rotated = { current: again.next, next: generateSigningKey(new Date()), previous: again.current }
    stored.set(PUBLIC, JSON.stringify({ keys: publishedKeys(rotated) }))
    const reads = secretsManager.reads.length

    vi.useFakeTimers({ toFake: ['Date'] })
    try {
      // An hour frozen: the copy from before is past what the rotation counts on, so this answer is the new set's.
      vi.setSystemTime(Date.now() + 60 * 60 * 1000)
      expect(await served()).toEqual({ keys: publishedKeys(rotated) })
      expect(secretsManager.reads.slice(reads)).toEqual([PUBLIC])
      // Then every reading fails (the secret holds no key set): within the age, the copy serves; past it, 503 rather
      // than a set the rotation no longer counts on.
      stored.set(PUBLIC, PLACEHOLDER)
      vi.setSystemTime(Date.now() + KEYS_REFRESH_AFTER_MS)
      expect(await served()).toEqual({ keys: publishedKeys(rotated) })
      vi.setSystemTime(Date.now() + KEY_SET_MAX_AGE_MS)
      expect(await invoke(handlers.jwks, apiEvent('GET', '/.well-known/jwks.json'))).toMatchObject(
        UNAVAILABLE,
      )
    } finally {
      vi.useRealTimers()
      stored.set(PUBLIC, JSON.stringify({ keys: publishedKeys(rotated) }))
    }
  })
})

const served = async () =>
  (await invoke(handlers.jwks, apiEvent('GET', '/.well-known/jwks.json'))).body as { keys: unknown }
