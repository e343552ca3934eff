import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { repositoryRoot } from '#infra/bundling'
import { readSettings } from '#infra/settings'
import { MAIL_CONTEXT, type Synthesized, synthesize } from './synth.ts'

/**
 * docs/deploying.md against the stack it documents: every output, logical id and context key a command or a sentence
 * names is one the synthesized template (or the settings) has, so a renamed output or key fails here, not in an
 * operator's terminal during an incident.
 */
const doc = readFileSync(join(repositoryRoot, 'docs/deploying.md'), 'utf8')

/** The stack with mail (the outputs that come with it), and with a database of the engineer's (no Neon project). */
let variants: Synthesized[]
beforeAll(() => {
  variants = [
    synthesize({ context: MAIL_CONTEXT }),
    synthesize({ context: { databaseSecretName: 'prod/papa-auth/database' } }),
  ]
})
afterAll(() => {
  for (const variant of variants ?? []) variant.remove()
})

const withMail = () => variants[0] as Synthesized
const outputNames = () => new Set(variants.flatMap((variant) => Object.keys(variant.outputs)))

/** The first-column names (in backticks) of every table whose header's first cell is `header`. */
function firstColumn(header: string): string[] {
  const names: string[] = []
  let inTable = false
  for (const line of doc.split('\n')) {
    const first = line.startsWith('|') ? (line.split('|')[1] ?? '').trim() : undefined
    if (first === undefined) inTable = false
    else if (first === header) inTable = true
    else if (inTable) names.push(...[...first.matchAll(/`([^`]+)`/g)].map((match) => match[1] as string))
  }
  return names
}

/**
 * Names the text calls outputs: in backticks ("the `X` output", "`X` and `Y` outputs", "`X`, `Y` outputs"), and in a
 * command's placeholder (`<X output>`).
 */
function namedAsOutputs(): string[] {
  const lists = doc.matchAll(/((?:`[A-Z][A-Za-z0-9]+`(?:\s*(?:,|and|or)\s*)?)+)\s*outputs?\b/g)
  return [
    ...[...lists].flatMap((list) =>
      [...(list[1] ?? '').matchAll(/`([A-Z][A-Za-z0-9]+)`/g)].map((match) => match[1] as string),
    ),
    ...[...doc.matchAll(/<([A-Z][A-Za-z0-9]+) output>/g)].map((match) => match[1] as string),
  ]
}

/** Every context key the settings read, whatever its value. */
function keysTheSettingsRead(): Set<string> {
  const read = new Set<string>()
  const recording = (base: Record<string, unknown>) =>
    new Proxy(base, {
      get(target, key) {
        if (typeof key === 'string') read.add(key)
        return target[key as string]
      },
    })
  readSettings(recording({}))
  readSettings(recording({ databaseSecretName: 'prod/papa-auth/database' }))
  return read
}

describe('docs/deploying.md', () => {
  it('reads outputs only by names the stack has (stack_output NAME)', () => {
    const read = [...doc.matchAll(/stack_output (\w+)/g)].map((match) => match[1] as string)
    // The runbooks read the project, the database secret and migrate from the outputs.
    expect(read).toEqual(
      expect.arrayContaining(['NeonProjectId', 'DatabaseSecretArn', 'MigrateFunctionName']),
    )
    for (const name of read) expect(outputNames(), name).toContain(name)
  })

  it('calls outputs only what the stack outputs: its outputs table, and every "`X` output" in the text', () => {
    const table = firstColumn('output')
    expect(table.length).toBeGreaterThan(10)
    const mentioned = namedAsOutputs()
    expect(mentioned).toEqual(expect.arrayContaining(['RotateSigningKeysCommand', 'SigningKeysSecretArn']))
    for (const name of [...table, ...mentioned]) expect(outputNames(), name).toContain(name)
  })

  it('names as resources to skip in a rollback only logical ids the template has', () => {
    const skipped = [
      ...[...doc.matchAll(/--resources-to-skip (\w+)/g)].map((match) => match[1] as string),
      ...firstColumn('resource to skip'),
    ]
    expect(new Set(skipped)).toEqual(
      new Set(['SigningKeysRotation', 'NeonProject8E011342', 'MigrateOnDeploy']),
    )
    for (const id of skipped) expect(Object.keys(withMail().resources), id).toContain(id)
  })

  it('gives only context keys the settings read: in its tables and in every -c key=value', () => {
    const read = keysTheSettingsRead()
    const given = [...doc.matchAll(/-c '?([A-Za-z]+)=/g)]
      .map((match) => match[1] as string)
      .filter((key) => key !== 'key')
    expect(given).toEqual(expect.arrayContaining(['neonAdoptProjectId', 'cleanupIntervalMinutes']))
    const tabled = firstColumn('key')
    expect(tabled).toEqual(
      expect.arrayContaining(['neonHistoryRetentionSeconds', 'neonAdoptProjectId', 'cleanupIntervalMinutes']),
    )
    for (const key of [...given, ...tabled]) expect(read, key).toContain(key)
  })
})
