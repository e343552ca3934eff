import { inject } from 'vitest'

/**
 * The environment a deployed function would have, pointed at the test database. Set before any test file imports
 * a handler, because handlers read their configuration once, at cold start. Cost 11 keeps bcrypt quick while
 * leaving cost 10 below it, for the rehash-on-login tests.
 */
export const TEST_BCRYPT_COST = 11

process.env.DATABASE_URL = inject('databaseUrl')
process.env.DATABASE_MIGRATION_URL = inject('migrationUrl')
process.env.DATABASE_CLEANUP_URL = inject('cleanupUrl')
process.env.DATABASE_WS_PROXY = inject('wsProxy')
process.env.JWT_SIGNING_KEYS = inject('signingKeys')
/** A URL, as the discovery document needs; the issuer's own server is no part of the tests. */
process.env.JWT_ISSUER = 'https://auth.papa.test'
process.env.JWT_AUDIENCE = 'papa-api-test'
process.env.BCRYPT_COST = String(TEST_BCRYPT_COST)
process.env.REGISTER_RATE_LIMIT = '20'

/**
 * The functions log by writing to stdout and stderr, which a test worker would pass straight to the terminal. Sent
 * through vitest's console instead, each line is kept with the test that wrote it: `silent: 'passed-only'` drops a
 * passing test's logs and prints a failing test's. Tests that spy on `write` still see the logger's own calls.
 */
const throughConsole =
  (print: (line: string) => void): typeof process.stdout.write =>
  (
    chunk: string | Uint8Array,
    encoding?: BufferEncoding | ((error?: Error | null) => void),
    done?: () => void,
  ) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString()
    print(text.replace(/\n$/, ''))
    ;(typeof encoding === 'function' ? encoding : done)?.()
    return true
  }
process.stdout.write = throughConsole((line) => console.log(line))
process.stderr.write = throughConsole((line) => console.error(line))
