import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MAIL_CONTEXT, type Synthesized, synthesize } from './synth.ts'

/**
 * cfn-lint is on the development and CI machines (a Python tool, not an npm package): on the PATH, or in pyenv's
 * shims when a stripped environment leaves them off it. Without it the suite says so, and skips these tests.
 */
const cfnLintBinary = ['cfn-lint', join(homedir(), '.pyenv', 'shims', 'cfn-lint')].find(
  (candidate) => spawnSync(candidate, ['--version'], { encoding: 'utf8' }).status === 0,
)
if (!cfnLintBinary) process.stderr.write('cfn-lint not found: the template lint tests are skipped\n')

let app: Synthesized
beforeAll(() => {
  // Everything the stack can deploy: the documentation routes, CORS, the mail sender with its queue and alarms, the
  // login path's provisioned concurrency (versions and aliases), the Neon compute's settings, the imported secrets' KMS
  // key and the FIPS endpoints.
  app = synthesize({
    context: {
      docs: 'true',
      corsOrigins: 'https://app.example.com',
      ...MAIL_CONTEXT,
      loginProvisionedConcurrency: '2',
      neonSuspendTimeoutSeconds: '-1',
      neonMinComputeUnits: '0.5',
      neonMaxComputeUnits: '2',
      importedSecretsKmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      useFipsEndpoints: 'true',
    },
  })
})
afterAll(() => app?.remove())

describe.runIf(cfnLintBinary !== undefined)('cfn-lint on the synthesized template', () => {
  // cfn-lint takes some 10 to 15 s on this template alone, and more than 30 s beside the other suites.
  it('finds no error and no warning (but W3005, which CDK writes for every function)', () => {
    const template = join(app.outdir, `${app.stack.artifactId}.template.json`)
    // W3005: a function's explicit DependsOn on its role, which its GetAtt already implies; CDK emits it so the role's
    // policy exists before the function: a redundant dependency, not a fault.
    const result = spawnSync(
      cfnLintBinary as string,
      ['--format', 'parseable', '--ignore-checks', 'W3005', '--', template],
      {
        encoding: 'utf8',
      },
    )
    expect(result.stdout.trim().split('\n').filter(Boolean)).toEqual([])
    expect(result.status).toBe(0)
  }, 120_000)

  it('would report a broken template (the check can fail)', () => {
    const broken = join(app.outdir, 'broken.template.json')
    const json = JSON.parse(readFileSync(join(app.outdir, `${app.stack.artifactId}.template.json`), 'utf8'))
    const [id] = Object.keys(json.Resources)
    if (id) json.Resources[id].Type = 'AWS::Lambda::NoSuchThing'
    writeFileSync(broken, JSON.stringify(json))
    expect(spawnSync(cfnLintBinary as string, [broken], { encoding: 'utf8' }).status).not.toBe(0)
  }, 120_000)
})
