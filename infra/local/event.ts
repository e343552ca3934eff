import { randomUUID } from 'node:crypto'
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda'
import { matchPath } from '#functions/routes'

export interface HttpRequestLike {
  method: string
  /** Path and query string, as on the request line. */
  url: string
  /** Header names in any case; repeated headers as arrays. */
  headers: Record<string, string | string[] | undefined>
  body?: Buffer | string | undefined
  sourceIp?: string
}

/** Content types that API Gateway passes as text; it base64-encodes every other body (forms included). */
const TEXT_CONTENT_TYPE = /^(text\/|application\/(json|[\w.+-]+\+json|xml|javascript)\b)/i

/**
 * The API Gateway HTTP API payload format 2.0 event for a request, as API Gateway builds it: lowercased headers
 * (repeats joined with commas), cookies split out, query parameters, the route key, and the body base64-encoded
 * unless its content type is text.
 */
export function toApiGatewayEvent(request: HttpRequestLike, routeKey: string): APIGatewayProxyEventV2 {
  const url = new URL(request.url, 'http://localhost')
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined) continue
    headers[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value
  }
  const cookies = headers.cookie?.split(';').map((cookie) => cookie.trim())
  delete headers.cookie

  const query: Record<string, string> = {}
  for (const [name, value] of url.searchParams)
    query[name] = name in query ? `${query[name]},${value}` : value

  const body = request.body === undefined ? undefined : Buffer.from(request.body)
  const hasBody = body !== undefined && body.length > 0
  const isText = TEXT_CONTENT_TYPE.test(headers['content-type'] ?? '')
  const now = new Date()
  const method = request.method.toUpperCase()
  // The route key's `{name}` segments, as API Gateway passes them; absent when the route has none.
  const template = routeKey === '$default' ? undefined : routeKey.slice(routeKey.indexOf(' ') + 1)
  const parameters = template?.includes('{') ? matchPath(template, url.pathname) : undefined

  return {
    version: '2.0',
    routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    ...(cookies ? { cookies } : {}),
    headers,
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    ...(parameters ? { pathParameters: parameters } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: (headers.host ?? 'localhost').split('.')[0] ?? 'localhost',
      http: {
        method,
        path: url.pathname,
        protocol: 'HTTP/1.1',
        sourceIp: request.sourceIp ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: now.toISOString(),
      timeEpoch: now.getTime(),
    },
    ...(hasBody ? { body: isText ? body.toString('utf8') : body.toString('base64') } : {}),
    isBase64Encoded: hasBody && !isText,
  }
}

/**
 * API Gateway's limit on an integration. Locally every function shares one process and one CPU (concurrent bcrypt
 * requests queue behind each other), so a request gets the gateway's whole budget rather than a Lambda's timeout.
 */
export const LOCAL_INVOCATION_TIMEOUT_MS = 30_000

/** A Lambda context like the one the runtime passes, for a function invoked locally. */
export function lambdaContext(functionName: string, timeoutMs = LOCAL_INVOCATION_TIMEOUT_MS): Context {
  const deadline = Date.now() + timeoutMs
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  }
}

export interface NormalizedResult {
  statusCode: number
  headers: Record<string, string>
  body: Buffer
}

/** A handler's result as API Gateway turns it into an HTTP response (a bare value is a 200 JSON body). */
export function fromApiGatewayResult(result: APIGatewayProxyResultV2): NormalizedResult {
  if (typeof result === 'object' && result !== null && 'statusCode' in result) {
    const headers: Record<string, string> = {}
    for (const [name, value] of Object.entries(result.headers ?? {}))
      headers[name.toLowerCase()] = String(value)
    if (result.cookies?.length) headers['set-cookie'] = result.cookies.join(', ')
    const raw = result.body ?? ''
    return {
      statusCode: result.statusCode ?? 200,
      headers,
      body: Buffer.from(raw, result.isBase64Encoded ? 'base64' : 'utf8'),
    }
  }
  const body = typeof result === 'string' ? result : JSON.stringify(result)
  return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(body) }
}
