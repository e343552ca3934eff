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
/** The templates beside the fully configured one: the default (no context), and alarms sent to the operator's topic. */
const variants: Record<string, Synthesized> = {}
beforeAll(() => {
  // Everything the stack can deploy: the documentation routes, CORS, the mail sender with its queue and alarms, the
  // login path's provisioned concurrency (versions and aliases), the Neon compute's settings, its history window, a
  // kept project taken back, an address the alarm topic mails, the imported secrets' KMS key and the FIPS endpoints.
  app = synthesize({
    context: {
      docs: 'true',
      corsOrigins: 'https://app.example.com',
      ...MAIL_CONTEXT,
      loginProvisionedConcurrency: '2',
      neonSuspendTimeoutSeconds: '-1',
      neonMinComputeUnits: '0.5',
      neonMaxComputeUnits: '2',
      alarmEmail: 'ops@example.com',
      neonHistoryRetentionSeconds: '604800',
      neonAdoptProjectId: 'quiet-bird-12345678',
      importedSecretsKmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      useFipsEndpoints: 'true',
    },
  })
  variants.default = synthesize()
  variants['alarms to the operator’s topic'] = synthesize({
    context: { alarmTopicArn: 'arn:aws:sns:eu-central-1:123456789012:ops-alarms' },
  })
}, 180_000)
afterAll(() => {
  app?.remove()
  for (const synthesized of Object.values(variants)) synthesized.remove()
})

/** cfn-lint's findings on a synthesized template, W3005 aside. */
function findings(synthesized: Synthesized): { lines: string[]; status: number | null } {
  const template = join(synthesized.outdir, `${synthesized.stack.artifactId}.template.json`)
  // W3005: a function's explicit DependsOn on its role, which its GetAtt already implies; CDK emits it so the role's
  // policy exists before the function: a redundant dependency, not a fault.
  const result = spawnSync(
    cfnLintBinary as string,
    ['--format', 'parseable', '--ignore-checks', 'W3005', '--', template],
    { encoding: 'utf8' },
  )
  return { lines: result.stdout.trim().split('\n').filter(Boolean), status: result.status }
}

// cfn-lint takes seconds a template, far more on a busy machine: the tests here wait for it.
describe.runIf(cfnLintBinary !== undefined)(
  'cfn-lint on the synthesized template',
  { timeout: 120_000 },
  () => {
    it('finds no error and no warning (but W3005, which CDK writes for every function)', () => {
      expect(findings(app)).toEqual({ lines: [], status: 0 })
    })

    it.each(['default', 'alarms to the operator’s topic'])('finds none in the %s template', (name) => {
      expect(findings(variants[name] as Synthesized)).toEqual({ lines: [], status: 0 })
    })

    it('would report a broken template (the check can fail)', () => {
      const broken = join(app.outdir, 'broken.template.json')
      const json = JSON.parse(readFileSync(join(app.outdir, `${app.stack.artifactId}.template.json`), 'utf8'))
      const [id] = Object.keys(json.Resources)
      if (id) json.Resources[id].Type = 'AWS::Lambda::NoSuchThing'
      writeFileSync(broken, JSON.stringify(json))
      expect(spawnSync(cfnLintBinary as string, [broken], { encoding: 'utf8' }).status).not.toBe(0)
    })
  },
)
