/** What a handler returns: a status, a JSON body (or none) and any headers of its own. */
export interface HttpResult {
  statusCode: number
  body?: unknown
  headers?: Record<string, string>
  /** A body sent as is instead of as JSON (the docs page and its assets); `headers` then sets its content type. */
  raw?: { body: string; isBase64Encoded: boolean }
}

export const ok = (body: unknown, headers?: Record<string, string>): HttpResult => ({
  statusCode: 200,
  body,
  headers,
})
export const created = (body: unknown): HttpResult => ({ statusCode: 201, body })
/** Taken for processing later (RFC 9110 §15.3.3): a reset request, whose mail is sent off the request's path. */
export const accepted = (body: unknown): HttpResult => ({ statusCode: 202, body })
export const noContent = (): HttpResult => ({ statusCode: 204 })

/** Headers of every response that carries tokens (RFC 6749 §5.1). */
export const TOKEN_RESPONSE_HEADERS = { 'cache-control': 'no-store', pragma: 'no-cache' } as const
