import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import aws4 from 'aws4'

/** The function role's credentials, as Lambda puts them in the environment. */
export interface AwsCredentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string | undefined
}

export interface AwsCall {
  service: string
  region: string
  credentials: AwsCredentials
  /** The service's endpoint, `https://host` (or a local stand-in's `http://127.0.0.1:port`). */
  endpoint: string
  path: string
  headers: Record<string, string>
  body: string
  /** The whole call: connecting, sending and reading the answer. */
  timeoutMs: number
  /** Run once the request has been handed to the network, while the service works on it. */
  onSent?: (() => void) | undefined
}

/** An AWS API's answer: its status and body, whatever the status. */
export interface AwsAnswer {
  status: number
  body: string
}

/**
 * The one wrapper around aws4: a SigV4-signed POST to one AWS API over node:http(s). The API functions call two AWS
 * operations (Secrets Manager's GetSecretValue, Lambda's Invoke); the SDK's client for each would add some 190 KB to
 * a bundle and its built-ins to every cold start, and a signed `fetch` would pay for fetch's and WebCrypto's first use
 * (some 20 ms) on the cold path. aws4 signs synchronously with node:crypto; node:http is loaded already.
 */
export function awsRequest(call: AwsCall): Promise<AwsAnswer> {
  const url = new URL(call.endpoint)
  const signed = aws4.sign(
    {
      host: url.host,
      path: call.path,
      method: 'POST',
      service: call.service,
      region: call.region,
      headers: call.headers,
      body: call.body,
    },
    call.credentials,
  )
  const send = url.protocol === 'http:' ? httpRequest : httpsRequest
  return new Promise((resolve, reject) => {
    const outgoing = send(
      {
        protocol: url.protocol,
        hostname: url.hostname,
        port: url.port || undefined,
        path: call.path,
        method: 'POST',
        headers: signed.headers as Record<string, string>,
        // The whole call, connecting to the last byte: an idle-socket timeout beside it would only say less.
        signal: AbortSignal.timeout(call.timeoutMs),
      },
      (response) => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        )
        response.on('error', reject)
      },
    )
    if (call.onSent) outgoing.once('finish', call.onSent)
    outgoing.on('error', reject)
    outgoing.end(call.body)
  })
}

/** The AWS SDKs' standard retry mode: the base of its backoff, and the larger one after throttling. */
const BACKOFF_BASE_MS = 100
const THROTTLED_BACKOFF_BASE_MS = 500

/**
 * How long to wait before retry number `retry` (1 for the second attempt): exponential backoff with full jitter, a
 * random time up to the base × 2^(retry − 1), as the AWS SDKs wait (standard mode: 100 ms, 500 ms after throttling),
 * so the functions a throttled service turned away do not all come back at once; never more than `capMs`.
 */
export function backoffMs(retry: number, throttled: boolean, capMs = Number.POSITIVE_INFINITY): number {
  const base = throttled ? THROTTLED_BACKOFF_BASE_MS : BACKOFF_BASE_MS
  return Math.floor(Math.random() * Math.min(capMs, base * 2 ** (retry - 1)))
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, Math.max(0, ms)))
