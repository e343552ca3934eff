import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { LAMBDA_NODE_MAJOR } from '#infra/bundling'

/**
 * The Node a developer needs, said once in package.json `engines` and quoted by the README: every Node it admits
 * installs the locked tree without an EBADENGINE warning (npm warns for each package whose `engines.node` refuses the
 * running Node), and it admits the Node the scripts and the Lambda run.
 */
const root = resolve(import.meta.dirname, '../..')
const read = (file: string) => readFileSync(resolve(root, file), 'utf8')
const manifest = JSON.parse(read('package.json')) as {
  engines: { node: string }
  devDependencies: Record<string, string>
}
const lock = JSON.parse(read('package-lock.json')) as {
  packages: Record<string, { engines?: { node?: string }; optional?: boolean }>
}

type Version = [number, number, number]

/** `22`, `22.12`, `v12.22.7`, `10.x`: the parts given, `x` or missing ones as undefined. */
function parts(text: string): (number | undefined)[] {
  const match = /^v?(\d+)(?:\.(\d+|x))?(?:\.(\d+|x))?$/.exec(text)
  if (!match) throw new Error(`not a version: ${text}`)
  return match.slice(1, 4).map((part) => (part === undefined || part === 'x' ? undefined : Number(part)))
}
const lowest = (text: string): Version => {
  const [major = 0, minor = 0, patch = 0] = parts(text)
  return [major, minor, patch]
}
const compare = (a: Version, b: Version) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]

/** One comparator of a node-semver range, in the forms package-lock.json holds; any other form throws. */
function admits(comparator: string, version: Version): boolean {
  if (comparator === '*') return true
  const operator = /^(>=|<=|>|<|\^)?(.*)$/.exec(comparator)
  const [, op = '', bound = ''] = operator ?? []
  if (op === '>=') return compare(version, lowest(bound)) >= 0
  if (op === '>') return compare(version, lowest(bound)) > 0
  if (op === '<') return compare(version, lowest(bound)) < 0
  if (op === '<=') return compare(version, lowest(bound)) <= 0
  if (op === '^') {
    const floor = lowest(bound)
    if (floor[0] === 0) throw new Error(`^0 ranges are not expected: ${comparator}`)
    return version[0] === floor[0] && compare(version, floor) >= 0
  }
  // A partial version: every version that starts with it.
  return parts(bound).every((part, index) => part === undefined || version[index] === part)
}

/** Whether a node-semver range (`||` of space-separated comparators) admits `version`. */
function satisfies(range: string, version: Version): boolean {
  return range.split('||').some((clause) =>
    clause
      .trim()
      .replace(/([<>=^]+)\s+/g, '$1')
      .split(/\s+/)
      .every((comparator) => admits(comparator, version)),
  )
}

/** The Node versions to try: every major from 18 to 30, at a few minors (where packages draw their lines). */
const CANDIDATES: Version[] = Array.from({ length: 13 }, (_, index) => 18 + index).flatMap((major) =>
  [0, 12, 13, 19, 99].map((minor): Version => [major, minor, 0]),
)

const engines = manifest.engines.node
const show = ([major, minor, patch]: Version) => `${major}.${minor}.${patch}`

describe('the Node requirement', () => {
  it('reads ranges as npm does, by a check that does refuse', () => {
    expect(satisfies('>=22', [20, 20, 2])).toBe(false)
    expect(satisfies('^20.19.0 || >=22.12.0', [22, 11, 0])).toBe(false)
    expect(satisfies('^20.19.0 || >=22.12.0', [22, 12, 0])).toBe(true)
    expect(satisfies('>=22.12.0 || >=20.19.0 <21.0.0', [20, 20, 0])).toBe(true)
    expect(satisfies('>=22.12.0 || >=20.19.0 <21.0.0', [21, 0, 0])).toBe(false)
    expect(satisfies('^20.0.0 || ^22.0.0 || >=24.0.0', [23, 0, 0])).toBe(false)
    expect(satisfies('18 || 20 || >=22', [19, 1, 0])).toBe(false)
    expect(satisfies('>= 10.x', [24, 0, 0])).toBe(true)
    expect(satisfies('>=16 || 14 >=14.17', [14, 16, 0])).toBe(false)
  })

  it('admits only Node versions that every locked package admits: no EBADENGINE warning on a supported Node', () => {
    const admitted = CANDIDATES.filter((version) => satisfies(engines, version))
    expect(admitted.length).toBeGreaterThan(0)
    const refusals = admitted.flatMap((version) =>
      Object.entries(lock.packages)
        // An optional package npm skips on this platform (another OS's binary) is never checked.
        .filter(([name, entry]) => name !== '' && !entry.optional && entry.engines?.node)
        .filter(([, entry]) => !satisfies(entry.engines?.node as string, version))
        .map(([name, entry]) => `${show(version)}: ${name} wants ${entry.engines?.node}`),
    )
    expect(refusals).toEqual([])
    // The locked file states the same requirement as package.json, as npm writes it.
    expect(lock.packages['']?.engines?.node).toBe(engines)
  })

  it('admits the Node the scripts run (the `node` package) and the Lambda runtime’s major', () => {
    expect(satisfies(engines, lowest(manifest.devDependencies.node as string))).toBe(true)
    expect(satisfies(engines, [LAMBDA_NODE_MAJOR, 0, 0])).toBe(true)
  })

  it('is the requirement the README states', () => {
    const stated = /`engines`: `([^`]+)`/.exec(read('README.md'))?.[1]
    expect(stated).toBe(engines)
  })
})
