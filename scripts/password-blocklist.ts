/**
 * `npm run blocklist`: rebuilds the password blocklist's Bloom filter (shared/domain/password-blocklist/
 * common-passwords.bloom) from the committed list beside it. Deterministic: the same list gives the same bytes, which
 * test/unit/password-blocklist.test.ts checks against the committed file.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseBloomFilter } from '#shared/domain/password-blocklist/bloom-filter'
import { buildBlocklistFilter, readBlocklistSource } from '#shared/domain/password-blocklist/build'
import { BLOCKLIST_FILTER_FILE } from '#shared/domain/password-blocklist/password-blocklist'

const target = join(import.meta.dirname, '../shared/domain/password-blocklist', BLOCKLIST_FILTER_FILE)
const list = readBlocklistSource()
const bytes = buildBlocklistFilter(list)
writeFileSync(target, bytes)
const { bits, hashes, entries } = parseBloomFilter(bytes)
process.stdout.write(
  `${target}: ${list.length} listed, ${entries} kept (8 to 72 bytes, lower-cased), ${bits} bits, ${hashes} hashes, ${bytes.length} bytes\n`,
)
