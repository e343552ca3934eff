import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { type BloomFilter, bloomFilterHas, parseBloomFilter } from './bloom-filter.ts'

/**
 * The blocklist of new passwords (NIST SP 800-63B-4 §3.1.1.2): the 100,000 most common passwords of the xato.net list
 * (`common-passwords.txt`, its source and licence in NOTICE.md), compared lower-cased. A Bloom filter of the entries
 * the length rule lets through (`build.ts`, `npm run blocklist`) ships beside every bundle whose code checks a new
 * password (infra/bundling.ts), and is read at the first check, not at init. Logins never consult it.
 */
export const BLOCKLIST_FILTER_FILE = 'common-passwords.bloom'

/** The filter's design rate: one strong password in 100,000 is refused as if it were listed. */
export const BLOCKLIST_FALSE_POSITIVE_RATE = 1e-5

export const BLOCKLISTED_PASSWORD_MESSAGE =
  'This password is on a list of common and breached passwords, which attackers try first; choose another'

/** The form in which a password and a listed entry are compared: lower-cased, so `Password123` is `password123`. */
export const blocklistKey = (password: string): string => password.toLowerCase()

let filter: BloomFilter | undefined

/**
 * Beside this module when run from source; beside `index.mjs` in a bundle, where esbuild has put this module. A
 * missing or damaged file throws (a 500), so a bundle without it never lets a listed password through.
 */
function loadFilter(): BloomFilter {
  filter ??= parseBloomFilter(readFileSync(join(import.meta.dirname, BLOCKLIST_FILTER_FILE)))
  return filter
}

/** Whether a new password is on the blocklist (or, once in 1/BLOCKLIST_FALSE_POSITIVE_RATE, taken for one). */
export const isBlocklisted = (password: string): boolean =>
  bloomFilterHas(loadFilter(), blocklistKey(password))
