import { type HttpResult, httpHandler, type ParsedEvent } from '#shared/http/handler'
import { allowedMethods } from './routes.ts'

/** API Gateway's `$default` route: 405 with `Allow` for a known path, else 404, in the contract's JSON shape. */
const notFound = async ({ path }: ParsedEvent): Promise<HttpResult> => {
  const allowed = allowedMethods(path)
  if (allowed.length === 0) return { statusCode: 404, body: { detail: 'Not Found' } }
  return { statusCode: 405, body: { detail: 'Method Not Allowed' }, headers: { allow: allowed.join(', ') } }
}

export const handler = httpHandler(notFound)
