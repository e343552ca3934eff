/**
 * CloudWatch's Embedded Metric Format (EMF): counts carried by a log line, which CloudWatch Logs turns into metrics as
 * the line arrives in the function's log group. No call to CloudWatch on the request's path, no permission beyond
 * writing the log, no library: the format is a few fields (AmazonCloudWatch/latest/monitoring/
 * CloudWatch_Embedded_Metric_Format_Specification.html).
 */

/** The members of one log line that make it an EMF event: `_aws` and the values it points at. */
export interface EmbeddedMetrics {
  readonly _aws: {
    /** Milliseconds since the epoch: when the counted thing happened. */
    readonly Timestamp: number
    readonly CloudWatchMetrics: readonly {
      readonly Namespace: string
      /** One dimension set: the names of the dimension members below. */
      readonly Dimensions: readonly (readonly string[])[]
      readonly Metrics: readonly { readonly Name: string; readonly Unit: 'Count' }[]
    }[]
  }
  readonly [member: string]: unknown
}

/** CloudWatch's limit on the dimensions of one set (the EMF specification). */
const MAX_DIMENSIONS = 30

/**
 * The EMF members that count `counts` (metric name → count) under `namespace`, each with the same `dimensions` (name →
 * value; keep the values few and fixed: every distinct set is a metric of its own, billed monthly). Undefined when a
 * dimension value is empty or the names collide, which CloudWatch would drop: the line is logged without metrics.
 */
export function embeddedMetrics(input: {
  namespace: string
  dimensions: Readonly<Record<string, string>>
  counts: Readonly<Record<string, number>>
  timestamp: number
}): EmbeddedMetrics | undefined {
  const dimensionNames = Object.keys(input.dimensions)
  const metricNames = Object.keys(input.counts)
  if (
    metricNames.length === 0 ||
    dimensionNames.length > MAX_DIMENSIONS ||
    dimensionNames.some((name) => input.dimensions[name] === '' || name in input.counts)
  )
    return undefined
  return {
    _aws: {
      Timestamp: input.timestamp,
      CloudWatchMetrics: [
        {
          Namespace: input.namespace,
          Dimensions: [dimensionNames],
          Metrics: metricNames.map((Name) => ({ Name, Unit: 'Count' as const })),
        },
      ],
    },
    ...input.dimensions,
    ...input.counts,
  }
}
