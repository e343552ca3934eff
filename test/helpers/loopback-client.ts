import { request } from 'node:http'

/** An answer as a client on the wire sees it. */
export interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: unknown
}

/**
 * HTTP requests to the local stack from loopback addresses of the test's choosing (`127.0.x.y`: the local server's
 * source IP), so that each test has per-address limits of its own. `port` is read at each call: the stack starts in
 * `beforeAll`.
 */
export function loopbackClient(port: () => number, userAgent: string) {
  let nextAddress = 10
  /** A loopback address no earlier call of this client used. */
  const newAddress = () => `127.0.${Math.floor(nextAddress / 250)}.${(nextAddress++ % 250) + 2}`

  /** An HTTP request from `from`, as a browser on that address would send it (a JSON body, a bearer token). */
  const call = (
    method: string,
    path: string,
    { body, token, from = '127.0.0.1' }: { body?: unknown; token?: string; from?: string } = {},
  ): Promise<Answer> => {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    return new Promise((resolve, reject) => {
      const outgoing = request(
        {
          host: '127.0.0.1',
          port: port(),
          method,
          path: `/api/v1${path}`,
          localAddress: from,
          headers: {
            // Its length said, as fetch says it: Node's client sends a DELETE's body unframed otherwise.
            ...(payload
              ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) }
              : {}),
            ...(token ? { authorization: `Bearer ${token}` } : {}),
            'user-agent': userAgent,
          },
        },
        (response) => {
          const chunks: Buffer[] = []
          response.on('data', (chunk: Buffer) => chunks.push(chunk))
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8')
            resolve({
              status: response.statusCode ?? 0,
              headers: response.headers,
              body: text ? JSON.parse(text) : undefined,
            })
          })
        },
      )
      outgoing.on('error', reject)
      outgoing.end(payload)
    })
  }
  return { call, newAddress }
}
