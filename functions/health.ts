import { type Container, getContainer } from '#shared/app/container'
import { type HttpResult, httpHandler } from '#shared/http/handler'

const health = async (_event: unknown, { databaseReachable }: Container): Promise<HttpResult> =>
  (await databaseReachable())
    ? { statusCode: 200, body: { status: 'ok' } }
    : { statusCode: 503, body: { status: 'unavailable' }, headers: { 'retry-after': '5' } }

export const handler = httpHandler(health, { dependencies: getContainer })
