/** The statistics and units of every measurement tool: `npm run bench`, `npm run load`, `npm run bench:timing`. */

/** The q-quantile (0 to 1) of a sample, nearest-rank: the value below which a fraction q of the calls fell. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[rank] as number
}

/** The median of a sample. */
export const median = (values: readonly number[]) => quantile(values, 0.5)

/** Milliseconds with a precision that suits their size: 0.142, 1.38, 12.4, 187. */
export function ms(value: number): string {
  if (!Number.isFinite(value)) return 'n/a'
  if (value < 1) return `${value.toFixed(3)} ms`
  if (value < 10) return `${value.toFixed(2)} ms`
  if (value < 100) return `${value.toFixed(1)} ms`
  return `${value.toFixed(0)} ms`
}

/** Bytes as KB (1 KB = 1000 bytes, as the target is written). */
export const kb = (bytes: number) => `${(bytes / 1000).toFixed(1)} KB`

/** A ratio such as 1.03×. */
export const times = (ratio: number) => `${ratio.toFixed(2)}×`

/** Bytes as MB (1 MB = 2^20 bytes, as Node and `ps` count them). */
export const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`

/** A signed percentage such as +3.2%. */
export const percent = (fraction: number) => `${fraction >= 0 ? '+' : ''}${(fraction * 100).toFixed(1)}%`

/** Seconds with one decimal. */
export const seconds = (milliseconds: number) => `${(milliseconds / 1000).toFixed(1)} s`
