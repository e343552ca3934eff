import { type HttpResult, httpHandler, type ParsedEvent } from '#shared/http/handler'
import { allowedMethods } from './routes.ts'

/**
 * API Gateway's `$default` route: 405 with `Allow` for a known path, else 404, in the contract's JSON shape; and 204
 * to every `OPTIONS`, which no route matches, so that API Gateway completes a CORS preflight with its headers.
 */
const notFound = async ({ method, path }: ParsedEvent): Promise<HttpResult> => {
  const allowed = allowedMethods(path)
  // Every path, not only known ones, as API Gateway's own preflight answer does: a preflight that fails hides the
  // 404 behind a CORS error, while after a 204 the browser sends the request and the front end reads the 404.
  if (method === 'OPTIONS') {
    return { statusCode: 204, headers: allowed.length > 0 ? { allow: allowed.join(', ') } : {} }
  }
  if (allowed.length === 0) return { statusCode: 404, body: { detail: 'Not Found' } }
  return { statusCode: 405, body: { detail: 'Method Not Allowed' }, headers: { allow: allowed.join(', ') } }
}

// Reached by every request no route matches, so by anyone.
export const handler = httpHandler(notFound, { callers: 'anyone' })
