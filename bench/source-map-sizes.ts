const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
const DIGIT = new Map([...BASE64].map((char, index) => [char, index]))

/** The fields of one source-map segment, as relative VLQ values. */
function decodeSegment(segment: string): number[] {
  const values: number[] = []
  let value = 0
  let shift = 0
  for (const char of segment) {
    const digit = DIGIT.get(char) ?? 0
    value += (digit & 31) << shift
    if (digit & 32) {
      shift += 5
      continue
    }
    values.push(value & 1 ? -(value >>> 1) : value >>> 1)
    value = 0
    shift = 0
  }
  return values
}

/** The npm package a source file belongs to; drizzle-orm's own source maps name its files `node_modules/src/…`. */
function packageOf(source: string): string {
  const name = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(source)?.[1]
  if (name === 'src') return 'drizzle-orm'
  return name ?? 'this repository'
}

/**
 * How many characters of the generated code each npm package accounts for, from the bundle's own source map (so the
 * bench reads the exact bundle that deploys, with no second build). Sorted, largest first.
 */
export function packageSizesFromSourceMap(map: { sources: string[]; mappings: string }, code: string) {
  const lineLengths = code.split('\n').map((line) => line.length)
  const owner = map.sources.map(packageOf)
  const sizes = new Map<string, number>()
  let source = 0
  map.mappings.split(';').forEach((line, lineIndex) => {
    let column = 0
    let previous: { column: number; source: number } | undefined
    const charge = (until: number) => {
      if (!previous) return
      const name = owner[previous.source] ?? 'unmapped'
      sizes.set(name, (sizes.get(name) ?? 0) + (until - previous.column))
    }
    for (const segment of line.split(',')) {
      if (segment === '') continue
      const [columnDelta = 0, sourceDelta] = decodeSegment(segment)
      column += columnDelta
      charge(column)
      if (sourceDelta !== undefined) source += sourceDelta
      previous = sourceDelta === undefined ? undefined : { column, source }
    }
    charge(lineLengths[lineIndex] ?? column)
  })
  return [...sizes].map(([name, bytes]) => ({ name, bytes })).sort((a, b) => b.bytes - a.bytes)
}
