/**
 * How a warm container keeps its copy of the keys across freezes: a reading the container was frozen in the middle of
 * is not waited for after the thaw, and a copy older than the rotation allows is never used.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { KEYS_REFRESH_AFTER_MS, tokenKeySource } from '#shared/app/keys'
import { newSigningKeySet, publishedKeys } from '#shared/domain/signing-keys'
import { loadConfig } from '#shared/platform/config'
import { KEY_SET_MAX_AGE_MS } from '#shared/platform/key-rotation-timing'
import type { SecretReader } from '#shared/platform/secrets'

const PUBLIC = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:PublicKeys-AbCdEf'
const config = loadConfig({ JWT_PUBLIC_KEYS_SECRET_ARN: PUBLIC, DATABASE_URL: 'postgres://x' }, [
  'publicKeys',
])
const published = () => JSON.stringify({ keys: publishedKeys(newSigningKeySet(new Date())) })

/** A reader whose readings answer as `answers` says, one after the other; what was asked, and when. */
function reader(answers: (() => Promise<string>)[]): SecretReader & { sent: number } {
  const stub = {
    sent: 0,
    read: () => Promise.resolve(first),
    reread: () => {
      const answer = answers[stub.sent] ?? (answers.at(-1) as () => Promise<string>)
      stub.sent++
      return answer()
    },
  }
  return stub
}
const first = published()

afterEach(() => vi.useRealTimers())

describe('the keys of a warm container', () => {
  it('sends a new reading after a thaw instead of waiting for the one the freeze caught', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const second = published()
    // The first reading never answers: its request was cut by the freeze.
    const secrets = reader([() => new Promise<string>(() => {}), () => Promise.resolve(second)])
    const keys = await tokenKeySource(config, secrets)
    vi.setSystemTime(Date.now() + KEYS_REFRESH_AFTER_MS)
    // Stale enough to read again in the background: the request is answered with the copy meanwhile.
    expect((await keys()).published).toEqual(JSON.parse(first).keys)
    expect(secrets.sent).toBe(1)

    // Frozen an hour: the copy is past its age, and the pending reading is older than any reading takes.
    vi.setSystemTime(Date.now() + 60 * 60 * 1000)
    expect((await keys()).published).toEqual(JSON.parse(second).keys)
    expect(secrets.sent).toBe(2)
  })

  it('pauses after a failed background reading, rather than trying again on every request', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const secrets = reader([() => Promise.reject(new Error('refused'))])
    const keys = await tokenKeySource(config, secrets)
    vi.setSystemTime(Date.now() + KEYS_REFRESH_AFTER_MS)
    for (let request = 0; request < 5; request++) {
      expect((await keys()).published).toEqual(JSON.parse(first).keys)
      await Promise.resolve()
    }
    expect(secrets.sent).toBe(1)
    vi.setSystemTime(Date.now() + 30_000)
    await keys()
    expect(secrets.sent).toBe(2)
  })

  it('uses a copy until KEY_SET_MAX_AGE_MS, and after that only a new one', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const secrets = reader([() => Promise.reject(new Error('unreachable'))])
    const keys = await tokenKeySource(config, secrets)
    vi.setSystemTime(Date.now() + KEY_SET_MAX_AGE_MS - 1)
    expect((await keys()).published).toEqual(JSON.parse(first).keys)
    vi.setSystemTime(Date.now() + 1)
    await expect(keys()).rejects.toMatchObject({ code: 'SIGNING_KEYS_UNAVAILABLE' })
  })
})
