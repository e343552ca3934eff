/**
 * The signing and published keys: read at cold start, again in the background so a rotation reaches warm containers,
 * and never used once older than `KEY_SET_MAX_AGE_MS`, the rotation's assumption (`shared/platform/key-rotation-timing.ts`).
 */
import { SigningKeysUnavailableError } from '#shared/domain/errors'
import {
  type PublicJwk,
  parsePublishedKeys,
  parseSigningKeySet,
  publishedKeys as publishedOf,
  type SigningKeySet,
} from '#shared/domain/signing-keys'
import type { TokenKeys } from '#shared/domain/tokens'
import {
  SECRETS_CONNECT_TIMEOUT_MS,
  SECRETS_MAX_ATTEMPTS,
  SECRETS_MAX_BACKOFF_MS,
  SECRETS_REQUEST_TIMEOUT_MS,
} from '#shared/platform/budget'
import { type Config, ConfigError, loadConfig } from '#shared/platform/config'
import { KEY_SET_MAX_AGE_MS } from '#shared/platform/key-rotation-timing'
import { logger } from '#shared/platform/logger'
import type { SecretReader } from '#shared/platform/secrets'
import { once } from './memo.ts'
import { secretReaderFor } from './resources.ts'

/** Keys this old are read again in the background; the request that finds them so is answered with them. */
export const KEYS_REFRESH_AFTER_MS = KEY_SET_MAX_AGE_MS / 2

/** After a background reading failed, the next one waits this long (a request past `KEY_SET_MAX_AGE_MS` does not). */
const FAILED_READING_PAUSE_MS = 30 * 1000

/** The longest one reading of the keys takes: every attempt of the secret's read timing out, and the backoff. */
const READ_BOUND_MS =
  SECRETS_MAX_ATTEMPTS * (SECRETS_CONNECT_TIMEOUT_MS + SECRETS_REQUEST_TIMEOUT_MS) +
  (SECRETS_MAX_ATTEMPTS - 1) * SECRETS_MAX_BACKOFF_MS

/** The published keys, and the signing set when this function has one; as read now. */
async function readTokenKeys(
  config: Config,
  secrets: SecretReader | undefined,
  read: 'cached' | 'again',
): Promise<TokenKeys> {
  const fromSecret = (secretId: string) => {
    if (!secrets) throw new Error('no secret reader')
    return read === 'again' ? secrets.reread(secretId) : secrets.read(secretId)
  }
  const [signingText, publicText] = await Promise.all([
    config.JWT_SIGNING_KEYS ??
      (config.JWT_SIGNING_KEYS_SECRET_ARN ? fromSecret(config.JWT_SIGNING_KEYS_SECRET_ARN) : undefined),
    config.JWT_PUBLIC_KEYS ??
      (config.JWT_PUBLIC_KEYS_SECRET_ARN ? fromSecret(config.JWT_PUBLIC_KEYS_SECRET_ARN) : undefined),
  ])
  // An inline value that is no key set is a mistake in the settings; a secret's, the placeholder a deploy made
  // before the first key set is written (a 503 until then, retried by the next request).
  const unusable = (name: string, inline: boolean) =>
    inline ? new ConfigError([`${name} is not a valid key set`]) : new SigningKeysUnavailableError()
  let signing: SigningKeySet | undefined
  if (signingText !== undefined) {
    signing = parseSigningKeySet(signingText)
    if (!signing) throw unusable('JWT_SIGNING_KEYS', config.JWT_SIGNING_KEYS !== undefined)
  }
  let published: PublicJwk[] | undefined
  if (publicText !== undefined) {
    published = parsePublishedKeys(publicText)
    if (!published) throw unusable('JWT_PUBLIC_KEYS', config.JWT_PUBLIC_KEYS !== undefined)
  } else if (signing) {
    published = publishedOf(signing)
  }
  if (!published) throw new ConfigError(['JWT_PUBLIC_KEYS or JWT_PUBLIC_KEYS_SECRET_ARN is required'])
  return { signing, published }
}

/**
 * The keys, read at cold start. When they come from Secrets Manager: read again in the background once they are
 * `KEYS_REFRESH_AFTER_MS` old (the requests meanwhile use the last ones), and never used once `KEY_SET_MAX_AGE_MS`
 * old: a request that finds them so (a container frozen since, or one whose background reading failed) waits for a
 * new reading, and fails as a cold start would (503) if there is none. A reading is dated from when it was sent, so
 * the age is never understated; one still pending longer than a reading can take was frozen with the container, and
 * is not waited for: a new one is sent.
 */
export async function tokenKeySource(
  config: Config,
  secrets: SecretReader | undefined,
): Promise<() => Promise<TokenKeys>> {
  const firstSent = Date.now()
  let current = { keys: await readTokenKeys(config, secrets, 'cached'), readAt: firstSent }
  if (!config.JWT_SIGNING_KEYS_SECRET_ARN && !config.JWT_PUBLIC_KEYS_SECRET_ARN)
    return async () => current.keys
  let reading: { keys: Promise<TokenKeys>; sentAt: number } | undefined
  let failedAt = Number.NEGATIVE_INFINITY

  const readAgain = (): Promise<TokenKeys> => {
    if (reading && Date.now() - reading.sentAt <= READ_BOUND_MS) return reading.keys
    const sentAt = Date.now()
    const keys = readTokenKeys(config, secrets, 'again').then((fresh) => {
      // A reading that outlived a freeze may land after a later one: the newer stays.
      if (sentAt > current.readAt) current = { keys: fresh, readAt: sentAt }
      return current.keys
    })
    const pending = { keys, sentAt }
    reading = pending
    const settled = () => {
      if (reading === pending) reading = undefined
    }
    keys.then(settled, settled)
    return keys
  }

  return async () => {
    const age = Date.now() - current.readAt
    if (age < KEYS_REFRESH_AFTER_MS) return current.keys
    if (age < KEY_SET_MAX_AGE_MS) {
      // Not on every request while Secrets Manager refuses: a pause after each failure.
      if (Date.now() - failedAt >= FAILED_READING_PAUSE_MS)
        readAgain().catch((error: unknown) => {
          failedAt = Date.now()
          logger.warn('signing keys not read again', {
            error: error instanceof Error ? error.name : typeof error,
          })
        })
      return current.keys
    }
    try {
      return await readAgain()
    } catch (error) {
      logger.error('signing keys too old to use, and not read again', {
        ageMs: age,
        error: error instanceof Error ? error.name : typeof error,
      })
      throw new SigningKeysUnavailableError()
    }
  }
}

/**
 * The published keys alone, for the functions that serve them (JWKS): no database, no signing key. Built once per
 * container like the API's dependencies; a failed build is retried by the next invocation.
 */
export const publishedKeys = once(async (): Promise<() => Promise<readonly PublicJwk[]>> => {
  const config = loadConfig(process.env, ['publicKeys'])
  // Only the published keys: a function that publishes them has no business reading the private ones.
  const publicOnly: Config =
    (config.JWT_PUBLIC_KEYS ?? config.JWT_PUBLIC_KEYS_SECRET_ARN)
      ? { ...config, JWT_SIGNING_KEYS: undefined, JWT_SIGNING_KEYS_SECRET_ARN: undefined }
      : config
  const keys = await tokenKeySource(publicOnly, await secretReaderFor(publicOnly))
  return async () => (await keys()).published
})
