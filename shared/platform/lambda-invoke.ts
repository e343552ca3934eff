import { type AwsCredentials, awsRequest, backoffMs, sleep } from './aws-client.ts'
import { serviceEndpoint } from './aws-endpoints.ts'

export interface AsyncInvokeSettings {
  functionName: string
  region: string
  /**
   * Lambda's endpoint (`AWS_ENDPOINT_URL_LAMBDA` points the local stack elsewhere); by default the region's, in its
   * partition, its FIPS one with `fips` (AWS_USE_FIPS_ENDPOINT).
   */
  endpoint?: string | undefined
  fips?: boolean | undefined
  credentials: AwsCredentials
  /** The whole call, retries included. */
  timeoutMs: number
}

/** Lambda throttled or failed the call: tried again, as the SDK would. */
const RETRIED = (status: number) => status === 429 || status >= 500
const MAX_ATTEMPTS = 3

/**
 * Invokes a function asynchronously (Lambda's `Invoke` with `X-Amz-Invocation-Type: Event`): Lambda queues the event
 * and answers 202 at once, then runs the function, retries it on failure and hands an event that keeps failing to
 * the function's failure destination. A signed request (`./aws-client.ts`) instead of the SDK's Lambda client.
 */
export function createAsyncInvoker(settings: AsyncInvokeSettings): (payload: unknown) => Promise<void> {
  const endpoint = settings.endpoint ?? serviceEndpoint('lambda', settings.region, settings.fips)
  const path = `/2015-03-31/functions/${encodeURIComponent(settings.functionName)}/invocations`
  return async (payload) => {
    const deadline = Date.now() + settings.timeoutMs
    for (let attempt = 1; ; attempt++) {
      let failure: unknown
      let throttled = false
      try {
        const answer = await awsRequest({
          service: 'lambda',
          region: settings.region,
          credentials: settings.credentials,
          endpoint,
          path,
          headers: { 'content-type': 'application/json', 'x-amz-invocation-type': 'Event' },
          body: JSON.stringify(payload),
          timeoutMs: Math.max(1, deadline - Date.now()),
        })
        if (answer.status === 202) return
        failure = new Error(`Lambda answered ${answer.status} to an asynchronous invocation`)
        // A refusal (no permission, no such function) is final; throttling and faults are tried again.
        if (!RETRIED(answer.status)) throw failure
        throttled = answer.status === 429
      } catch (error) {
        if (error === failure) throw error
        // No answer: the connection was refused, reset or timed out. Tried again too, within the deadline.
        failure = error
      }
      if (attempt >= MAX_ATTEMPTS || Date.now() >= deadline) throw failure
      // Jittered, and never past the deadline: the last attempt keeps some of it.
      await sleep(backoffMs(attempt, throttled, (deadline - Date.now()) / 2))
    }
  }
}
