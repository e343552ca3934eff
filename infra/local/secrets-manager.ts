import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * A local stand-in for Secrets Manager: `GetSecretValue` over its real wire protocol (AWS JSON 1.1), on 127.0.0.1,
 * serving `values`. A built bundle run in a child process reaches it through AWS_ENDPOINT_URL_SECRETS_MANAGER, so
 * the SDK client inside the bundle is the one exercised, as deployed. Records which secrets were read.
 */
export async function startLocalSecretsManager(values: Map<string, string>) {
  const reads: string[] = []
  const server = createServer(async (request, response) => {
    const chunks: Buffer[] = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    const target = String(request.headers['x-amz-target'] ?? '')
    const input = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { SecretId?: string }
    const send = (status: number, body: object, errorType?: string) => {
      response.writeHead(status, {
        'content-type': 'application/x-amz-json-1.1',
        'x-amzn-requestid': 'fake-request',
        ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
      })
      response.end(JSON.stringify(body))
    }
    const secretId = input.SecretId ?? ''
    const value = values.get(secretId)
    if (target !== 'secretsmanager.GetSecretValue') {
      send(
        400,
        { __type: 'InvalidRequestException', message: `the local Secrets Manager serves no ${target}` },
        'InvalidRequestException',
      )
      return
    }
    reads.push(secretId)
    if (value === undefined) {
      send(
        400,
        { __type: 'ResourceNotFoundException', message: 'no such secret' },
        'ResourceNotFoundException',
      )
      return
    }
    send(200, {
      ARN: secretId,
      Name: secretId.split(':').at(-1),
      SecretString: value,
      VersionId: 'v1',
      VersionStages: ['AWSCURRENT'],
      CreatedDate: 1_700_000_000,
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    reads,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
