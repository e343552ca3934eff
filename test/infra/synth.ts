import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { App } from 'aws-cdk-lib'
import { Template } from 'aws-cdk-lib/assertions'
import { repositoryRoot } from '#infra/bundling'
import type { AuthFunction } from '#infra/constructs/auth-function'
import type { AuthStackSettings } from '#infra/settings'
import { type AuthStack, defineApp } from '#infra/stack'

/** The feature flags and settings of cdk.json, which `cdk synth` passes to the app: the tests synthesize with them. */
const CDK_JSON_CONTEXT = (
  JSON.parse(readFileSync(join(repositoryRoot, 'cdk.json'), 'utf8')) as { context?: Record<string, unknown> }
).context

/** The context of a deployment that sends password reset mail (docs/deploying.md, Mail). */
export const MAIL_CONTEXT = {
  mailFrom: 'Past Questions <no-reply@mail.example.com>',
  passwordResetUrl: 'https://app.example.com/reset-password?token={token}',
  accountDeletionUrl: 'https://app.example.com/delete-account?token={token}',
} as const

/** One resource of a synthesized template, loosely typed: the tests read what they check. */
export interface Resource {
  Type: string
  // biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON is untyped, and each test reads what it checks
  Properties: Record<string, any>
  DependsOn?: string[]
  DeletionPolicy?: string
  UpdateReplacePolicy?: string
}

export interface Synthesized {
  stack: AuthStack
  template: Template
  resources: Record<string, Resource>
  outputs: Record<string, { Value: unknown }>
  /** The cloud assembly folder; bundles are in `asset.<hash>` folders there. */
  outdir: string
  logicalId(fn: AuthFunction): string
  /** The warnings the synth reported (CDK's validation report: annotations, by id, with their message). */
  warnings(): { id: string; message: string }[]
  remove(): void
}

/**
 * Synthesizes the app as `cdk synth` does (defineApp, cdk-nag included, so a finding throws) with the given
 * context. Without `bundle`, bundling is skipped (CDK's own switch): the template is the same but for asset hashes.
 */
export function synthesize(
  options: {
    context?: Record<string, unknown>
    bundle?: boolean
    overrides?: Partial<AuthStackSettings>
  } = {},
): Synthesized {
  const outdir = mkdtempSync(join(tmpdir(), 'papa-auth-cdk-'))
  const app = new App({
    outdir,
    context: {
      ...CDK_JSON_CONTEXT,
      ...options.context,
      ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }),
    },
  })
  let stack: AuthStack
  let assembly: ReturnType<App['synth']>
  try {
    stack = defineApp(app, options.overrides)
    assembly = app.synth()
  } catch (error) {
    rmSync(outdir, { recursive: true, force: true })
    throw error
  }
  const json = assembly.getStackArtifact(stack.artifactId).template as {
    Resources: Record<string, Resource>
    Outputs: Record<string, { Value: unknown }>
  }
  return {
    stack,
    template: Template.fromJSON(json),
    resources: json.Resources,
    outputs: json.Outputs,
    outdir,
    logicalId: (fn) => stack.getLogicalId(fn.function.node.defaultChild as never),
    warnings: () => {
      const path = join(outdir, 'validation-report.json')
      if (!existsSync(path)) return []
      const report = JSON.parse(readFileSync(path, 'utf8')) as {
        pluginReports: { violations: { ruleName: string; description: string; severity: string }[] }[]
      }
      return report.pluginReports
        .flatMap((plugin) => plugin.violations)
        .filter((violation) => violation.severity === 'warning')
        .map((violation) => ({
          id: violation.ruleName.replace(/^Annotation::/, ''),
          message: violation.description,
        }))
    },
    remove: () => rmSync(outdir, { recursive: true, force: true }),
  }
}

/** The function of that name in the stack; fails the test when there is none. */
export function functionNamed(synthesized: Synthesized, name: string): AuthFunction {
  const fn = synthesized.stack.functions.get(name)
  if (!fn) throw new Error(`the stack has no function ${name}`)
  return fn
}
