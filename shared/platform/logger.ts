/**
 * Structured JSON logs, one line per call, on stdout (CloudWatch keeps each line as one event). Callers pass only
 * fields they chose: never a body, a header, an error's message or cause (drizzle's carry SQL and parameters).
 */
import type { EmbeddedMetrics } from './metrics.ts'

export type LogFields = Record<string, string | number | boolean | null | undefined>

type Level = 'debug' | 'info' | 'warn' | 'error'

const write = (level: Level, message: string, fields: LogFields = {}, metrics?: EmbeddedMetrics) => {
  const line = JSON.stringify({ level, message, ...fields, time: new Date().toISOString(), ...metrics })
  if (level === 'error' || level === 'warn') process.stderr.write(`${line}\n`)
  else process.stdout.write(`${line}\n`)
}

export const logger = {
  /**
   * `metrics` (`embeddedMetrics`) makes the line an EMF event as well; written raw to stdout, as EMF needs, and never
   * through the runtime's console, which the Lambda JSON log format wraps in an object of its own.
   */
  info: (message: string, fields?: LogFields, metrics?: EmbeddedMetrics) =>
    write('info', message, fields, metrics),
  warn: (message: string, fields?: LogFields) => write('warn', message, fields),
  error: (message: string, fields?: LogFields) => write('error', message, fields),
}
