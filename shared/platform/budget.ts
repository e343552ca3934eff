/**
 * How long each thing an API request waits for may take, and what they add up to: the one place the functions'
 * timeouts come from (`functions/routes.ts`), so that every wait ends, and the function answers (a 503 at worst),
 * before Lambda ends it.
 */
import { ANSWER_MARGIN_MS } from './deadline.ts'

export const SECRETS_CONNECT_TIMEOUT_MS = 1000
export const SECRETS_REQUEST_TIMEOUT_MS = 2000
export const SECRETS_MAX_ATTEMPTS = 2
/** The longest wait between two attempts (`backoffMs` in aws-client.ts: the SDKs' 500 ms after throttling, jittered). */
export const SECRETS_MAX_BACKOFF_MS = 500
/** Handing a mail job to the mail sender (an asynchronous Lambda invocation), retries included. */
export const MAIL_QUEUE_TIMEOUT_MS = 1500
/** How much later than the server's statement_timeout the client's own timer fires. */
export const SERVER_FIRST_GRACE_MS = 500
/** CPU a request may spend besides its waits: bcrypt at the highest cost (14) on one vCPU, and a rehash. */
const CPU_ALLOWANCE_MS = 1000

/**
 * The longest an API request can take when everything it waits for is as slow as it may be: a cold start's secrets
 * (every attempt timing out, and the backoff between them), a connection (a compute waking up), one statement to its server-side timeout and the
 * client's timer after it (no further statement is sent that could not end in time), its CPU, handing a mail job
 * over (a reset, a password change), the answer's margin.
 */
export function requestBudgetMs(settings: {
  DATABASE_CONNECT_TIMEOUT_MS: number
  DATABASE_QUERY_TIMEOUT_MS: number
}): number {
  const secrets =
    SECRETS_MAX_ATTEMPTS * (SECRETS_CONNECT_TIMEOUT_MS + SECRETS_REQUEST_TIMEOUT_MS) +
    (SECRETS_MAX_ATTEMPTS - 1) * SECRETS_MAX_BACKOFF_MS
  const statement = settings.DATABASE_QUERY_TIMEOUT_MS + SERVER_FIRST_GRACE_MS
  const work = CPU_ALLOWANCE_MS + MAIL_QUEUE_TIMEOUT_MS
  return secrets + settings.DATABASE_CONNECT_TIMEOUT_MS + statement + work + ANSWER_MARGIN_MS
}
