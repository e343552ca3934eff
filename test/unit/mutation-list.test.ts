/**
 * The mutation check's list (`scripts/mutation-list.ts`) follows the code: `npm run test:mutations` is not part of
 * `npm test`, so a change that moved a line it breaks would otherwise be found only at its next run.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { MUTATIONS } from '../../scripts/mutation-list.ts'

const ROOT = join(import.meta.dirname, '..', '..')

describe('the mutation list', () => {
  it('names each mutation once', () => {
    const ids = MUTATIONS.map((mutation) => mutation.id)
    expect(new Set(ids).size).toBe(ids.length)
  })

  it.each(MUTATIONS.map((mutation) => [mutation.id, mutation] as const))(
    '%s: its text is found exactly once in its file, the edit changes it, and its tests exist',
    (_, mutation) => {
      const text = readFileSync(join(ROOT, mutation.file), 'utf8')
      expect(text.split(mutation.from).length - 1).toBe(1)
      expect(mutation.to).not.toBe(mutation.from)
      expect(mutation.tests.length).toBeGreaterThan(0)
      for (const test of mutation.tests) expect(existsSync(join(ROOT, test)), test).toBe(true)
    },
  )
})
