import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager'

export interface SecretReader {
  /** The secret's string value, fetched once per container and cached; a failed fetch is retried next time. */
  read(secretId: string): Promise<string>
  /** The secret's value read again now (a rotated key set), then cached as `read` caches it. */
  reread(secretId: string): Promise<string>
}

/** The one wrapper around Secrets Manager. The client is passed in, so tests hand it aws-sdk-client-mock's. */
export function createSecretReader(client: SecretsManagerClient): SecretReader {
  const cache = new Map<string, Promise<string>>()
  const fetchAndCache = (secretId: string) => {
    const value = fetchSecret(client, secretId)
    value.catch(() => {
      if (cache.get(secretId) === value) cache.delete(secretId)
    })
    cache.set(secretId, value)
    return value
  }
  return {
    read: (secretId) => cache.get(secretId) ?? fetchAndCache(secretId),
    reread: fetchAndCache,
  }
}

async function fetchSecret(client: SecretsManagerClient, secretId: string): Promise<string> {
  const { GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager')
  const result = await client.send(new GetSecretValueCommand({ SecretId: secretId }))
  if (typeof result.SecretString !== 'string') throw new Error(`secret ${secretId} has no string value`)
  return result.SecretString
}

/** Reads one field of a JSON secret (the database secret holds `pooledUrl` and `directUrl`). */
export async function readJsonField(reader: SecretReader, secretId: string, field: string): Promise<string> {
  const parsed: unknown = JSON.parse(await reader.read(secretId))
  const value =
    typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>)[field] : undefined
  if (typeof value !== 'string' || value === '') throw new Error(`secret ${secretId} has no field ${field}`)
  return value
}
