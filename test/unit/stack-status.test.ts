import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isRollingBack, StackStatusError, stackStatus } from '#shared/platform/stack-status'

const STACK = 'arn:aws:cloudformation:eu-central-1:123456789012:stack/PapaAuth/0a1b2c3d'

/** CloudFormation's query API on 127.0.0.1: each request answered by the next of `answers` (status, XML body). */
let answers: [number, string][]
let received: { body: URLSearchParams; authorization: string | undefined; contentType: string | undefined }[]
let url: string
let close: () => Promise<void>

beforeEach(async () => {
  answers = []
  received = []
  const server = createServer(async (request, response) => {
    const chunks: Buffer[] = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    received.push({
      body: new URLSearchParams(Buffer.concat(chunks).toString('utf8')),
      authorization: request.headers.authorization,
      contentType: request.headers['content-type'],
    })
    const [status, body] = answers.shift() ?? [500, '']
    response.writeHead(status, { 'content-type': 'text/xml' }).end(body)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  close = () => new Promise((resolve) => server.close(() => resolve()))
})
afterEach(() => close())

const described = (status: string) =>
  `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member><StackName>PapaAuth</StackName><StackStatus>${status}</StackStatus></member></Stacks></DescribeStacksResult></DescribeStacksResponse>`
const refused = (code: string) =>
  `<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>${code}</Code><Message>…</Message></Error></ErrorResponse>`

const read = () =>
  stackStatus({
    region: 'eu-central-1',
    credentials: { accessKeyId: 'AKIDSTACKSTATUS', secretAccessKey: 'stack-status-test' },
    endpoint: url,
    stackId: STACK,
    attemptTimeoutMs: 1000,
    maxAttempts: 3,
  })

describe("the stack's status", () => {
  it('is read with one signed DescribeStacks of the stack, as the query API takes it', async () => {
    answers.push([200, described('UPDATE_ROLLBACK_IN_PROGRESS')])
    expect(await read()).toBe('UPDATE_ROLLBACK_IN_PROGRESS')
    expect(received).toHaveLength(1)
    expect(Object.fromEntries(received[0]?.body ?? [])).toEqual({
      Action: 'DescribeStacks',
      Version: '2010-05-15',
      StackName: STACK,
    })
    expect(received[0]?.contentType).toBe('application/x-www-form-urlencoded; charset=utf-8')
    expect(received[0]?.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDSTACKSTATUS\/\d{8}\/eu-central-1\/cloudformation\/aws4_request, /,
    )
  })

  it('is asked again after a throttle or a 5xx, within the attempts', async () => {
    answers.push([400, refused('Throttling')], [503, ''], [200, described('UPDATE_IN_PROGRESS')])
    expect(await read()).toBe('UPDATE_IN_PROGRESS')
    expect(received).toHaveLength(3)
  })

  it('is refused at once, with CloudFormation’s code, for a refusal (no permission, no such stack)', async () => {
    answers.push([403, refused('AccessDenied')], [200, described('UPDATE_IN_PROGRESS')])
    await expect(read()).rejects.toEqual(new StackStatusError('CloudFormation answered 403 AccessDenied'))
    expect(received).toHaveLength(1)
  })

  it('gives up after the last attempt', async () => {
    answers.push([500, ''], [500, ''], [500, ''])
    await expect(read()).rejects.toThrow('CloudFormation answered 500 no stack status')
    expect(received).toHaveLength(3)
  })

  it('is a rollback only while one is under way', () => {
    for (const status of ['UPDATE_ROLLBACK_IN_PROGRESS', 'ROLLBACK_IN_PROGRESS'])
      expect(isRollingBack(status), status).toBe(true)
    for (const status of [
      'CREATE_IN_PROGRESS',
      'UPDATE_IN_PROGRESS',
      'UPDATE_COMPLETE',
      'UPDATE_ROLLBACK_COMPLETE',
      'UPDATE_ROLLBACK_FAILED',
      'UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS',
    ])
      expect(isRollingBack(status), status).toBe(false)
  })
})
