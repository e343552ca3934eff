import { it } from 'vitest'

/**
 * CI (`.ci/run` exports CI=true) requires every tool a test needs: there a missing tool fails the run, so a machine
 * without it cannot pass with less checked. On a developer's machine the tests that need it are skipped, and say so.
 */
export const toolsRequired = process.env.CI === 'true'

export interface Tool {
  /** The tool as a reader names it: "cfn-lint". */
  name: string
  /** Where the tests look for it: "on the PATH", "at /usr/bin/chromium". */
  where: string
  found: boolean
  /** How to get it: "pip install cfn-lint". */
  install: string
}

/**
 * Declares, where it is called, a test that `tool` is there, and answers whether the tests that need it run. Found,
 * the test passes and they run. Missing under CI, the test fails saying how to install the tool, and they are
 * attempted too (vitest lists them as skipped when their setup fails first): the run fails either way. Missing
 * elsewhere, the test is skipped under a name saying what to install, and so are they.
 */
export function requiredTool(tool: Tool): boolean {
  if (tool.found || toolsRequired) {
    it(`${tool.name} is ${tool.where} (CI requires it)`, () => {
      if (!tool.found) throw new Error(`${tool.name} is not ${tool.where}: ${tool.install}`)
    })
    return true
  }
  it.skip(`${tool.name} is not ${tool.where}, so the tests that need it are skipped: ${tool.install}`, () => {})
  return false
}
