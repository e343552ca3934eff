import { AwsClient } from 'aws4fetch'

export interface AsyncInvokeSettings {
  functionName: string
  region: string
  /** Lambda's endpoint; the regional one by default (`AWS_ENDPOINT_URL_LAMBDA` points the local stack elsewhere). */
  endpoint?: string | undefined
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string | undefined }
  /** The whole call, retries included. */
  timeoutMs: number
}

/**
 * Invokes a function asynchronously (Lambda's `Invoke` with `X-Amz-Invocation-Type: Event`): Lambda queues the event
 * and answers 202 at once, then runs the function, retries it on failure and hands an event that keeps failing to
 * the function's failure destination. A SigV4-signed `fetch` (aws4fetch, a few KB) instead of the SDK's Lambda
 * client, which would add some 190 KB to every function that queues a mail, and to its cold start.
 */
export function createAsyncInvoker(settings: AsyncInvokeSettings): (payload: unknown) => Promise<void> {
  const client = new AwsClient({
    ...settings.credentials,
    service: 'lambda',
    region: settings.region,
    // Retried on 5xx and 429, a few times and quickly: the whole call is bounded by `timeoutMs` anyway.
    retries: 2,
    initRetryMs: 50,
  })
  const endpoint = (settings.endpoint ?? `https://lambda.${settings.region}.amazonaws.com`).replace(
    /\/+$/,
    '',
  )
  const url = `${endpoint}/2015-03-31/functions/${encodeURIComponent(settings.functionName)}/invocations`
  return async (payload) => {
    const response = await client.fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-amz-invocation-type': 'Event' },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(settings.timeoutMs),
    })
    await response.body?.cancel()
    if (response.status !== 202)
      throw new Error(`Lambda answered ${response.status} to an asynchronous invocation`)
  }
}
