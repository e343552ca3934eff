import { checkDatabase } from '#db/health'
import type { Container } from '#shared/app/container'
import { type HttpResult, httpHandler } from '#shared/http/handler'

const health = async (_event: unknown, { database }: Container): Promise<HttpResult> =>
  (await checkDatabase(database.db))
    ? { statusCode: 200, body: { status: 'ok' } }
    : { statusCode: 503, body: { status: 'unavailable' }, headers: { 'retry-after': '5' } }

export const handler = httpHandler(health)
