/**
 * The service's own counts, which an operator graphs (docs/deploying.md, Metrics): logins by outcome and password
 * resets. Each is counted by the HTTP layer from the answer a handler gave, in the access-log line of its request
 * (`embeddedMetrics`), so the domain neither logs nor counts, and no request waits on CloudWatch.
 */
import { type EmbeddedMetrics, embeddedMetrics } from '#shared/platform/metrics'
import type { ErrorCode } from './errors.ts'

/** The CloudWatch namespace of the counts; the stack's dashboard reads them from here. */
export const METRICS_NAMESPACE = 'PapaAuth'

/**
 * Every count, by metric name, with the values of its `Outcome` dimension. The other dimension is `FunctionName`
 * (the Lambda function's name, which names the stack too, so two stacks in one account never mix): a few fixed
 * values each, never an email, an address, a user id or a token.
 */
export const COUNTS = {
  Logins: ['succeeded', 'failed', 'locked'],
  PasswordResets: ['requested', 'confirmed'],
} as const

export type CountedMetric = keyof typeof COUNTS
type Outcome<M extends CountedMetric> = (typeof COUNTS)[M][number]

interface Counter<M extends CountedMetric> {
  readonly metric: M
  /** The outcome of a 2xx answer. */
  readonly success?: Outcome<M>
  /** The outcome of an error, by its code (not its status: the token endpoint answers a wrong password 400). */
  readonly errors?: Partial<Record<ErrorCode, Outcome<M>>>
}

const counter = <M extends CountedMetric>(counter: Counter<M>) => counter

/** What a handler's answers count as, by what a function declares (`httpHandler`'s `counts`). */
const COUNTERS = {
  /** A password login: `login`, and the token endpoint's password grant. */
  login: counter({
    metric: 'Logins',
    success: 'succeeded',
    errors: { INVALID_CREDENTIALS: 'failed', TOO_MANY_ATTEMPTS: 'locked' },
  }),
  /** A reset link requested: counted whether the email names an account or not, as the answer is the same. */
  'password-reset': counter({ metric: 'PasswordResets', success: 'requested' }),
  'password-reset-confirm': counter({ metric: 'PasswordResets', success: 'confirmed' }),
} as const

export type CountedAs = keyof typeof COUNTERS

/** The metric and outcome an answer counts as, if any. */
export function countOf(
  counted: CountedAs,
  answer: { status: number; code: ErrorCode | undefined },
): { metric: CountedMetric; outcome: string } | undefined {
  const { metric, success, errors } = COUNTERS[counted] as Counter<CountedMetric>
  const outcome =
    answer.code === undefined
      ? answer.status >= 200 && answer.status < 300
        ? success
        : undefined
      : errors?.[answer.code]
  return outcome === undefined ? undefined : { metric, outcome }
}

/** The EMF members that count one answer of the function, for its access-log line; none when it counts nothing. */
export function answerMetrics(
  counted: CountedAs,
  answer: { status: number; code: ErrorCode | undefined },
  functionName: string,
  timestamp: number,
): EmbeddedMetrics | undefined {
  const count = countOf(counted, answer)
  if (!count) return undefined
  return embeddedMetrics({
    namespace: METRICS_NAMESPACE,
    dimensions: { FunctionName: functionName, Outcome: count.outcome },
    counts: { [count.metric]: 1 },
    timestamp,
  })
}
