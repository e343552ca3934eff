/**
 * Structured JSON logs, one line per call, on stdout (CloudWatch keeps each line as one event). Callers pass only
 * fields they chose: never a body, a header, an error's message or cause (drizzle's carry SQL and parameters).
 */
export type LogFields = Record<string, string | number | boolean | null | undefined>

type Level = 'debug' | 'info' | 'warn' | 'error'

const write = (level: Level, message: string, fields: LogFields = {}) => {
  const line = JSON.stringify({ level, message, ...fields, time: new Date().toISOString() })
  if (level === 'error' || level === 'warn') process.stderr.write(`${line}\n`)
  else process.stdout.write(`${line}\n`)
}

export const logger = {
  info: (message: string, fields?: LogFields) => write('info', message, fields),
  warn: (message: string, fields?: LogFields) => write('warn', message, fields),
  error: (message: string, fields?: LogFields) => write('error', message, fields),
}
