import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface FakeSecretsManager {
  /** For `AWS_ENDPOINT_URL_SECRETS_MANAGER`: the SDK then sends its signed requests here. */
  endpoint: string
  requests: number
  close(): Promise<void>
}

/**
 * Answers `GetSecretValue` as Secrets Manager does (AWS JSON 1.1), on 127.0.0.1, from a fixed set of secrets: enough
 * for a bundle to take its real SDK path (client, credentials, signing, HTTP) in a cold start without AWS.
 */
export async function startFakeSecretsManager(secrets: Record<string, string>): Promise<FakeSecretsManager> {
  const fake = { requests: 0 }
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      fake.requests++
      const answer = (status: number, body: unknown) =>
        response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify(body))
      const { SecretId } = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { SecretId?: string }
      const value = SecretId === undefined ? undefined : secrets[SecretId]
      if (
        request.headers['x-amz-target'] !== 'secretsmanager.GetSecretValue' ||
        value === undefined ||
        !SecretId
      ) {
        answer(400, {
          __type: 'ResourceNotFoundException',
          message: 'Secrets Manager can’t find the specified secret.',
        })
        return
      }
      answer(200, {
        ARN: SecretId,
        Name: SecretId.split(':').at(-1),
        SecretString: value,
        VersionId: '00000000-0000-4000-8000-000000000000',
        VersionStages: ['AWSCURRENT'],
        CreatedDate: 1_700_000_000,
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    endpoint: `http://127.0.0.1:${port}`,
    get requests() {
      return fake.requests
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}
