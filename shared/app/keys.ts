/** The signing and published keys: read at cold start, and again in the background so a rotation reaches warm containers. */
import { SigningKeysUnavailableError } from '#shared/domain/errors'
import {
  type PublicJwk,
  parsePublishedKeys,
  parseSigningKeySet,
  publishedKeys as publishedOf,
  type SigningKeySet,
} from '#shared/domain/signing-keys'
import type { TokenKeys } from '#shared/domain/tokens'
import { type Config, ConfigError, loadConfig } from '#shared/platform/config'
import { logger } from '#shared/platform/logger'
import type { SecretReader } from '#shared/platform/secrets'
import { once } from './memo.ts'
import { secretReaderFor } from './resources.ts'

/** How long a container uses the keys it read before reading them again, so that a rotation reaches warm ones. */
export const KEYS_MAX_AGE_MS = 10 * 60 * 1000

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
 * The keys, read at cold start; when they come from Secrets Manager, read again in the background once they are
 * `KEYS_MAX_AGE_MS` old (the requests meanwhile use the last ones), so a container outlives any rotation.
 */
export async function tokenKeySource(
  config: Config,
  secrets: SecretReader | undefined,
): Promise<() => Promise<TokenKeys>> {
  let keys = await readTokenKeys(config, secrets, 'cached')
  if (!config.JWT_SIGNING_KEYS_SECRET_ARN && !config.JWT_PUBLIC_KEYS_SECRET_ARN) return async () => keys
  let readAt = Date.now()
  let refreshing: Promise<void> | undefined
  return async () => {
    if (!refreshing && Date.now() - readAt >= KEYS_MAX_AGE_MS) {
      refreshing = readTokenKeys(config, secrets, 'again')
        .then((fresh) => {
          keys = fresh
        })
        .catch((error: unknown) => {
          logger.warn('signing keys not read again', {
            error: error instanceof Error ? error.name : typeof error,
          })
        })
        .finally(() => {
          readAt = Date.now()
          refreshing = undefined
        })
    }
    return keys
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
