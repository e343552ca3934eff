export { median, ms, quantile } from '../bench/stats.ts'

/** Bytes as MB (1 MB = 2^20 bytes, as Node and `ps` count them). */
export const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`

/** A signed percentage such as +3.2%. */
export const percent = (fraction: number) => `${fraction >= 0 ? '+' : ''}${(fraction * 100).toFixed(1)}%`

/** Seconds with one decimal. */
export const seconds = (milliseconds: number) => `${(milliseconds / 1000).toFixed(1)} s`
