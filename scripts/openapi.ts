/**
 * `npm run openapi [-- <file>]`: writes the OpenAPI document that `GET /api/v1/openapi.json` serves (the same
 * generator, fed the same route table and the settings of this environment) to a file: `dist/openapi.json`
 * (git-ignored) by default, else the path given, from where npm was run.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { routes } from '#functions/routes'
import { buildOpenApiDocument } from '#shared/http/openapi'
import { loadSettings } from '#shared/platform/config'

const argument = process.argv[2]
const target = argument
  ? resolve(process.env.INIT_CWD ?? process.cwd(), argument)
  : resolve(import.meta.dirname, '../dist/openapi.json')
await mkdir(dirname(target), { recursive: true })
await writeFile(target, `${JSON.stringify(buildOpenApiDocument(routes, loadSettings()), null, 2)}\n`)
process.stdout.write(`OpenAPI document written to ${target}\n`)
