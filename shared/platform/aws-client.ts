import { AwsClient } from 'aws4fetch'

/** The function role's credentials, as Lambda puts them in the environment. */
export interface AwsCredentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string | undefined
}

/**
 * The one wrapper around aws4fetch: a SigV4-signed `fetch` for one AWS service. The API functions call two AWS APIs,
 * each with one operation (Secrets Manager's GetSecretValue, Lambda's Invoke); the SDK's clients for them would add
 * some 190 KB each to a bundle, and their Node built-ins (https, http2, zlib, …) to every cold start. `retries`
 * counts aws4fetch's own retries of a 5xx or 429 answer; callers bound the whole call with a signal.
 */
export function awsClient(
  service: string,
  region: string,
  credentials: AwsCredentials,
  retries = 0,
): Pick<AwsClient, 'fetch' | 'sign'> {
  return new AwsClient({ ...credentials, service, region, retries, initRetryMs: 50 })
}
