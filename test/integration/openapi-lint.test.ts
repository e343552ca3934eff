import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { routes } from '#functions/routes'
import { buildOpenApiDocument, type OpenApiDocument } from '#shared/http/openapi'
import { loadSettings } from '#shared/platform/config'

/** The installed Redocly CLI's entry file (package.json `bin`), run with this Node. */
const REDOCLY_CLI = join(
  dirname(createRequire(import.meta.url).resolve('@redocly/cli/package.json')),
  'bin',
  'cli.js',
)

interface Problem {
  ruleId: string
  severity: 'error' | 'warn'
  message: string
  location: { pointer: string }[]
}

interface LintReport {
  totals: { errors: number; warnings: number }
  problems: Problem[]
}

let directory: string
beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'openapi-lint-'))
})
afterAll(() => rm(directory, { recursive: true, force: true }))

/** `redocly lint` with its recommended rules only (no project config is read), as JSON. */
async function lint(document: OpenApiDocument): Promise<LintReport> {
  const file = join(directory, 'openapi.json')
  await writeFile(file, JSON.stringify(document, null, 2))
  const args = [REDOCLY_CLI, 'lint', '--extends', 'recommended', '--format', 'json', file]
  const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' }
  // It exits 1 when it finds an error; the report is on stdout either way.
  const { stdout } = await promisify(execFile)(process.execPath, args, { cwd: directory, env }).catch(
    (error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }),
  )
  return JSON.parse(stdout) as LintReport
}

const summary = (problems: Problem[]) =>
  problems.map(({ ruleId, location }) => `${ruleId} ${location[0]?.pointer ?? ''}`).sort()

const document = buildOpenApiDocument(routes, loadSettings())

describe("the OpenAPI document under Redocly's recommended rules", () => {
  it('has no error, by a linter that does report one', async () => {
    const report = await lint(document)
    expect(summary(report.problems.filter((problem) => problem.severity === 'error'))).toEqual([])
    expect(report.totals.errors).toBe(0)

    // A public operation that does not say so (no `security`) is an error under these rules.
    const broken = structuredClone(document)
    delete broken.paths['/api/v1/health']?.get?.security
    expect(summary((await lint(broken)).problems)).toContain('security-defined #/paths/~1api~1v1~1health/get')
  }, 60_000)

  it('warns only where the document is right as it is', async () => {
    expect(summary((await lint(document)).problems)).toEqual([
      // The project publishes no licence.
      'info-license #/info',
      // 404 and 405 come from the `$default` route, not from an operation; the info text points to them.
      'no-unused-components #/components/responses/MethodNotAllowed',
      'no-unused-components #/components/responses/NotFound',
      // Health and the issuer's two documents take no input and no credentials: no 4XX answer exists to document.
      'operation-4xx-response #/paths/~1.well-known~1jwks.json/get/responses',
      'operation-4xx-response #/paths/~1.well-known~1openid-configuration/get/responses',
      'operation-4xx-response #/paths/~1api~1v1~1health/get/responses',
    ])
  }, 60_000)
})
