import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requiredTool } from '#test/helpers/required-tool'
import { MAIL_CONTEXT, type Synthesized, synthesize } from './synth.ts'

/**
 * cfn-lint is on the development and CI machines (a Python tool, not an npm package): on the PATH, or in pyenv's
 * shims when a stripped environment leaves them off it. Without it CI fails here; elsewhere these tests are skipped
 * and say what to install.
 */
const cfnLintBinary = ['cfn-lint', join(homedir(), '.pyenv', 'shims', 'cfn-lint')].find(
  (candidate) => spawnSync(candidate, ['--version'], { encoding: 'utf8' }).status === 0,
)
const lints = requiredTool({
  name: 'cfn-lint',
  where: 'on the PATH',
  found: cfnLintBinary !== undefined,
  install: 'pip install cfn-lint, then run the infra tests again to lint the synthesized templates',
})
// Without cfn-lint (under CI), the name the tests run: each then fails on its missing binary, never passes.
const cfnLint = cfnLintBinary ?? 'cfn-lint'

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

/** cfn-lint's output and status; a cfn-lint that could not be started throws, saying so. */
function cfnLintOn(args: string[]): { stdout: string; status: number | null } {
  const result = spawnSync(cfnLint, args, { encoding: 'utf8' })
  if (result.error) throw new Error(`${cfnLint} could not be run: ${result.error.message}`)
  return { stdout: result.stdout, status: result.status }
}

/** cfn-lint's findings on a synthesized template, W3005 aside. */
function findings(synthesized: Synthesized): { lines: string[]; status: number | null } {
  const template = join(synthesized.outdir, `${synthesized.stack.artifactId}.template.json`)
  // W3005: a function's explicit DependsOn on its role, which its GetAtt already implies; CDK emits it so the role's
  // policy exists before the function: a redundant dependency, not a fault.
  const result = cfnLintOn(['--format', 'parseable', '--ignore-checks', 'W3005', '--', template])
  return { lines: result.stdout.trim().split('\n').filter(Boolean), status: result.status }
}

// cfn-lint takes seconds a template, far more on a busy machine: the tests here wait for it.
describe.runIf(lints)('cfn-lint on the synthesized template', { timeout: 120_000 }, () => {
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
    // The finding itself, not just a status other than 0, which a crash has too.
    const result = cfnLintOn(['--format', 'parseable', '--', broken])
    expect(result.stdout).toContain(`:E3006:Resource type 'AWS::Lambda::NoSuchThing' does not exist`)
    // cfn-lint's status is a bit mask: 2 says an error was found (4 a warning, 8 an informational finding).
    expect((result.status ?? 0) & 2).toBe(2)
  })
})
