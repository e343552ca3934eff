import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { PASSWORD_MAX_BYTES, PASSWORD_MIN_BYTES } from '../schemas.ts'
import { createBloomFilter, serializeBloomFilter } from './bloom-filter.ts'
import { BLOCKLIST_FALSE_POSITIVE_RATE, blocklistKey } from './password-blocklist.ts'

/** The committed list: one password a line, most common first (NOTICE.md says where it comes from). */
export const BLOCKLIST_SOURCE_FILE = join(import.meta.dirname, 'common-passwords.txt')

export const readBlocklistSource = (): string[] =>
  readFileSync(BLOCKLIST_SOURCE_FILE, 'utf8').split('\n').filter(Boolean)

/**
 * The keys the filter holds: each listed password lower-cased, kept when the length rule would let it through (8 to
 * 72 bytes of UTF-8): a shorter one is refused for its length before the blocklist is asked.
 */
export function blocklistKeys(list: readonly string[]): string[] {
  const keys = new Set<string>()
  for (const entry of list) {
    const key = blocklistKey(entry)
    const bytes = Buffer.byteLength(key, 'utf8')
    if (bytes >= PASSWORD_MIN_BYTES && bytes <= PASSWORD_MAX_BYTES) keys.add(key)
  }
  return [...keys]
}

/** The filter's file, byte for byte, as `npm run blocklist` writes it from the committed list. */
export const buildBlocklistFilter = (list: readonly string[]): Buffer =>
  serializeBloomFilter(createBloomFilter(blocklistKeys(list), BLOCKLIST_FALSE_POSITIVE_RATE))
