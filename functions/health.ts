import { apiContainer, type Container } from '#shared/app/container'
import { type HttpResult, httpHandler } from '#shared/http/handler'
import { callersOf } from './routes.ts'

const health = async (_event: unknown, { databaseReachable }: Container): Promise<HttpResult> =>
  (await databaseReachable())
    ? { statusCode: 200, body: { status: 'ok' } }
    : { statusCode: 503, body: { status: 'unavailable' }, headers: { 'retry-after': '5' } }

export const handler = httpHandler(health, {
  callers: callersOf('health'),
  dependencies: apiContainer(),
})
