import { type AwsCredentials, awsClient } from './aws-client.ts'

export interface AsyncInvokeSettings {
  functionName: string
  region: string
  /** Lambda's endpoint; the regional one by default (`AWS_ENDPOINT_URL_LAMBDA` points the local stack elsewhere). */
  endpoint?: string | undefined
  credentials: AwsCredentials
  /** The whole call, retries included. */
  timeoutMs: number
}

/**
 * Invokes a function asynchronously (Lambda's `Invoke` with `X-Amz-Invocation-Type: Event`): Lambda queues the event
 * and answers 202 at once, then runs the function, retries it on failure and hands an event that keeps failing to
 * the function's failure destination. A signed `fetch` (`./aws-client.ts`) instead of the SDK's Lambda client.
 */
export function createAsyncInvoker(settings: AsyncInvokeSettings): (payload: unknown) => Promise<void> {
  // Retried on 5xx and 429, a few times and quickly: the whole call is bounded by `timeoutMs` anyway.
  const client = awsClient('lambda', settings.region, settings.credentials, 2)
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
