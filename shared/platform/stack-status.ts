import { type AwsCredentials, awsRequest } from './aws-client.ts'

export interface StackStatusSettings {
  region: string
  credentials: AwsCredentials
  /** CloudFormation's endpoint; the regional one by default (AWS_ENDPOINT_URL_CLOUDFORMATION for a stand-in). */
  endpoint?: string | undefined
  /** The stack's id (its ARN) or name. */
  stackId: string
  /** Each attempt, connecting and answering together. */
  attemptTimeoutMs: number
  maxAttempts: number
}

/** CloudFormation's answer to a refused call (its query API's `<Code>`), or one with no status in it. */
export class StackStatusError extends Error {
  override readonly name = 'StackStatusError'
}

/**
 * A stack's status (`UPDATE_IN_PROGRESS`, `UPDATE_ROLLBACK_IN_PROGRESS`, …): one `DescribeStacks`, a signed POST to
 * CloudFormation's query API (form-encoded, answered in XML), tried again on a throttle, a 5xx, a timeout or a dropped
 * connection, up to `maxAttempts`.
 */
export async function stackStatus(settings: StackStatusSettings): Promise<string> {
  const endpoint = settings.endpoint ?? `https://cloudformation.${settings.region}.amazonaws.com`
  const body = new URLSearchParams({
    Action: 'DescribeStacks',
    Version: '2010-05-15',
    StackName: settings.stackId,
  }).toString()
  for (let tries = 1; ; tries++) {
    try {
      const answer = await awsRequest({
        service: 'cloudformation',
        region: settings.region,
        credentials: settings.credentials,
        endpoint,
        path: '/',
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
        body,
        timeoutMs: settings.attemptTimeoutMs,
      })
      const status = /<StackStatus>([A-Z_]+)<\/StackStatus>/.exec(answer.body)?.[1]
      if (answer.status === 200 && status) return status
      const code = /<Code>([^<]+)<\/Code>/.exec(answer.body)?.[1] ?? 'no stack status'
      const error = new StackStatusError(`CloudFormation answered ${answer.status} ${code}`)
      if ((answer.status < 500 && !/Throttl/.test(code)) || tries >= settings.maxAttempts) throw error
    } catch (error) {
      if (error instanceof StackStatusError || tries >= settings.maxAttempts) throw error
    }
  }
}

/** Whether a stack's status is a rollback under way: the failed update's (or create's) resources going back. */
export const isRollingBack = (status: string): boolean => status.endsWith('ROLLBACK_IN_PROGRESS')
