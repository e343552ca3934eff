import { createHash } from 'node:crypto'

/**
 * A Bloom filter over strings: a key it holds is always found; a key it does not hold is found with a small, chosen
 * probability (a false positive), never more than that. Each key is hashed once (SHA-256 of its UTF-8); its `hashes`
 * bit positions are `h1 + i·h2 mod bits` (Kirsch and Mitzenmacher's double hashing, with h1 and h2 the digest's first
 * two 32-bit words), so the same keys make the same bytes wherever the filter is built.
 */
export interface BloomFilter {
  /** m: the number of bits. */
  readonly bits: number
  /** k: the bits set per key. */
  readonly hashes: number
  /** n: the distinct keys it was built from. */
  readonly entries: number
  readonly array: Uint8Array
}

/** `BLM1`, then m, k and n as unsigned 32-bit little-endian integers, then the bits (bit i is byte i>>3, bit i&7). */
const MAGIC = 0x314d4c42
const HEADER_BYTES = 16

/** The bits and hashes that hold `entries` keys at a false-positive rate of at most about `falsePositiveRate`. */
export function bloomFilterSize(
  entries: number,
  falsePositiveRate: number,
): { bits: number; hashes: number } {
  const bits = Math.ceil((-Math.max(entries, 1) * Math.log(falsePositiveRate)) / Math.LN2 ** 2)
  return { bits, hashes: Math.max(1, Math.round((bits / Math.max(entries, 1)) * Math.LN2)) }
}

/** Calls `visit` with each bit position of `key`, until it returns false. */
function everyPosition(
  key: string,
  bits: number,
  hashes: number,
  visit: (position: number) => boolean,
): boolean {
  const digest = createHash('sha256').update(key, 'utf8').digest()
  const h1 = digest.readUInt32LE(0)
  // Odd, so that the steps never all land on one bit; below 2^32, so h1 + i·h2 stays an exact integer.
  const h2 = (digest.readUInt32LE(4) | 1) >>> 0
  for (let i = 0; i < hashes; i++) {
    if (!visit((h1 + i * h2) % bits)) return false
  }
  return true
}

/** A filter holding the distinct `keys`, sized for `falsePositiveRate`. */
export function createBloomFilter(keys: Iterable<string>, falsePositiveRate: number): BloomFilter {
  const distinct = new Set(keys)
  const { bits, hashes } = bloomFilterSize(distinct.size, falsePositiveRate)
  const array = new Uint8Array(Math.ceil(bits / 8))
  for (const key of distinct) {
    everyPosition(key, bits, hashes, (position) => {
      array[position >>> 3] = (array[position >>> 3] ?? 0) | (1 << (position & 7))
      return true
    })
  }
  return { bits, hashes, entries: distinct.size, array }
}

/** Whether the filter may hold `key`: true for every key it was built from, and rarely for another. */
export const bloomFilterHas = (filter: BloomFilter, key: string): boolean =>
  everyPosition(
    key,
    filter.bits,
    filter.hashes,
    (position) => ((filter.array[position >>> 3] ?? 0) & (1 << (position & 7))) !== 0,
  )

/**
 * The false-positive rate the filter has, from the share of its bits that are set: a key it does not hold is found
 * when all its `hashes` positions fall on set bits.
 */
export function bloomFilterFalsePositiveRate(filter: BloomFilter): number {
  let set = 0
  for (const byte of filter.array) {
    for (let rest = byte; rest !== 0; rest &= rest - 1) set++
  }
  return (set / filter.bits) ** filter.hashes
}

export function serializeBloomFilter(filter: BloomFilter): Buffer {
  const bytes = Buffer.alloc(HEADER_BYTES + filter.array.length)
  bytes.writeUInt32LE(MAGIC, 0)
  bytes.writeUInt32LE(filter.bits, 4)
  bytes.writeUInt32LE(filter.hashes, 8)
  bytes.writeUInt32LE(filter.entries, 12)
  bytes.set(filter.array, HEADER_BYTES)
  return bytes
}

/** A filter from the bytes `serializeBloomFilter` wrote; throws on anything else (a truncated or foreign file). */
export function parseBloomFilter(bytes: Buffer): BloomFilter {
  if (bytes.length < HEADER_BYTES || bytes.readUInt32LE(0) !== MAGIC) throw new Error('not a Bloom filter')
  const bits = bytes.readUInt32LE(4)
  const hashes = bytes.readUInt32LE(8)
  const entries = bytes.readUInt32LE(12)
  if (bits === 0 || hashes === 0 || bytes.length !== HEADER_BYTES + Math.ceil(bits / 8)) {
    throw new Error('a Bloom filter of the wrong length')
  }
  return { bits, hashes, entries, array: bytes.subarray(HEADER_BYTES) }
}
