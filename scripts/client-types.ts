/**
 * `npm run client:types`: writes the client's request and response types (client/src/openapi.ts) from the OpenAPI
 * document the API serves (`buildOpenApiDocument`, the same generator, fed the same route table). Shapes only: no
 * descriptions, so wording in the document never churns the client. test/unit/client-types.test.ts fails while the
 * committed file differs from what this writes, and test/e2e/client-node.test.ts holds it against the served document.
 */
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { routes } from '#functions/routes'
import { buildOpenApiDocument, type OpenApiObject } from '#shared/http/openapi'
import { loadSettings } from '#shared/platform/config'

const root = resolve(import.meta.dirname, '..')
export const CLIENT_TYPES_FILE = join(root, 'client/src/openapi.ts')

/** What of an OpenAPI document the types are made from; the document of `buildOpenApiDocument` satisfies it. */
export interface OpenApiLike {
  paths: Record<string, Record<string, OpenApiObject>>
  components: { schemas: Record<string, OpenApiObject>; responses?: Record<string, OpenApiObject> }
}

const METHODS = ['get', 'post', 'patch', 'put', 'delete'] as const
// Keywords that constrain or describe a value without changing its TypeScript type.
const IGNORED = new Set([
  'description',
  'format',
  'pattern',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'default',
  'minItems',
  'maxItems',
  'minProperties',
  'example',
  'examples',
  'title',
])

const literal = (value: unknown) => JSON.stringify(value)
const key = (name: string) => (/^[A-Za-z_$][\w$]*$/.test(name) ? name : literal(name))
const union = (parts: string[]) => [...new Set(parts)].join(' | ')
const nameOf = (reference: string, kind: string) => {
  const prefix = `#/components/${kind}/`
  if (!reference.startsWith(prefix)) throw new Error(`unsupported reference ${reference}`)
  return reference.slice(prefix.length)
}

/**
 * A JSON Schema (2020-12, as the document writes it) as a TypeScript type. Any keyword it does not know makes it throw,
 * so a new construct in the document cannot turn silently into a wrong type.
 */
export function typeOf(schema: OpenApiObject | boolean): string {
  if (schema === true) return 'unknown'
  if (schema === false) return 'never'
  const known = new Set([
    ...IGNORED,
    '$ref',
    'const',
    'enum',
    'anyOf',
    'oneOf',
    'type',
    'properties',
    'required',
    'additionalProperties',
    'items',
    'prefixItems',
  ])
  const unknownKeyword = Object.keys(schema).find((name) => !known.has(name))
  if (unknownKeyword) throw new Error(`unsupported JSON Schema keyword ${unknownKeyword}`)
  if (typeof schema.$ref === 'string') return nameOf(schema.$ref, 'schemas')
  if ('const' in schema) return literal(schema.const)
  if (Array.isArray(schema.enum)) return union(schema.enum.map(literal))
  const alternatives = (schema.anyOf ?? schema.oneOf) as OpenApiObject[] | undefined
  if (alternatives) return union(alternatives.map((item) => wrap(typeOf(item))))
  const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string]
  return union(types.map((type) => wrap(typeOfType(type, schema))))
}

/** A union in parentheses, where it is an array's element or a member of another union. */
function wrap(type: string): string {
  let depth = 0
  let quoted = false
  for (const [index, character] of [...type].entries()) {
    if (quoted) quoted = !(character === '"' && type[index - 1] !== '\\')
    else if (character === '"') quoted = true
    else if ('{[('.includes(character)) depth++
    else if ('}])'.includes(character)) depth--
    else if (character === '|' && depth === 0) return `(${type})`
  }
  return type
}

function typeOfType(type: string, schema: OpenApiObject): string {
  switch (type) {
    case 'string':
      return 'string'
    case 'integer':
    case 'number':
      return 'number'
    case 'boolean':
      return 'boolean'
    case 'null':
      return 'null'
    case 'array': {
      if (Array.isArray(schema.prefixItems)) {
        if (schema.items !== false) throw new Error('an open tuple is not supported')
        return `[${(schema.prefixItems as OpenApiObject[]).map(typeOf).join(', ')}]`
      }
      return `${wrap(typeOf((schema.items as OpenApiObject | undefined) ?? true))}[]`
    }
    case 'object':
      return objectType(schema)
    default:
      throw new Error(`unsupported JSON Schema type ${type}`)
  }
}

function objectType(schema: OpenApiObject): string {
  const properties = (schema.properties ?? {}) as Record<string, OpenApiObject>
  const required = new Set((schema.required ?? []) as string[])
  const members = Object.entries(properties).map(
    ([name, property]) => `${key(name)}${required.has(name) ? '' : '?'}: ${typeOf(property)}`,
  )
  const extra = schema.additionalProperties
  if (extra !== undefined && extra !== false) {
    members.push(`[name: string]: ${extra === true ? 'unknown' : typeOf(extra as OpenApiObject)}`)
  }
  if (members.length === 0) return extra === false ? 'Record<string, never>' : 'Record<string, unknown>'
  return `{ ${members.join('; ')} }`
}

/** The body schema of a response (its own or a shared one's); `undefined` for one without a body (204). */
function responseType(response: OpenApiObject, document: OpenApiLike): string {
  const resolved =
    typeof response.$ref === 'string'
      ? document.components.responses?.[nameOf(response.$ref, 'responses')]
      : response
  if (!resolved) throw new Error(`no response ${String(response.$ref)}`)
  const content = resolved.content as Record<string, { schema: OpenApiObject }> | undefined
  if (!content) return 'undefined'
  const json = content['application/json']
  if (!json) throw new Error(`a response that is not JSON: ${Object.keys(content).join(', ')}`)
  return typeOf(json.schema)
}

/** An operation: its path and query parameters, its body (JSON or form) and its answers by status. */
function operationType(operation: OpenApiObject, document: OpenApiLike): string {
  const members: string[] = []
  const parameters = (operation.parameters ?? []) as OpenApiObject[]
  for (const place of ['path', 'query'] as const) {
    const here = parameters.filter((parameter) => parameter.in === place)
    if (here.length === 0) continue
    const fields = here.map(
      (parameter) =>
        `${key(String(parameter.name))}${parameter.required ? '' : '?'}: ${typeOf(parameter.schema as OpenApiObject)}`,
    )
    members.push(`${place}: { ${fields.join('; ')} }`)
  }
  const body = operation.requestBody as OpenApiObject | undefined
  if (body) {
    const content = body.content as Record<string, { schema: OpenApiObject }>
    const json = content['application/json']
    const form = content['application/x-www-form-urlencoded']
    if (json) members.push(`body: ${typeOf(json.schema)}`)
    else if (form) members.push(`form: ${typeOf(form.schema)}`)
    else throw new Error(`an unsupported request body: ${Object.keys(content).join(', ')}`)
  }
  const responses = Object.entries(operation.responses as Record<string, OpenApiObject>).map(
    ([status, response]) => `${status}: ${responseType(response, document)}`,
  )
  members.push(`responses: { ${responses.join('; ')} }`)
  return `{ ${members.join('; ')} }`
}

/** The types module for a document: a type per schema, and `Paths`: every operation by path and method. */
export function clientTypes(document: OpenApiLike): string {
  const schemas = Object.entries(document.components.schemas).map(([name, schema]) => {
    const type = typeOf(schema)
    return type.startsWith('{') ? `export interface ${name} ${type}` : `export type ${name} = ${type}`
  })
  const paths = Object.entries(document.paths).map(([path, operations]) => {
    const methods = METHODS.filter((method) => operations[method]).map(
      (method) => `${method}: ${operationType(operations[method] as OpenApiObject, document)}`,
    )
    return `${literal(path)}: { ${methods.join('; ')} }`
  })
  const source = [
    '/*',
    ' * GENERATED by `npm run client:types` from the API’s OpenAPI document (shared/http/openapi.ts); do not edit.',
    ' * test/unit/client-types.test.ts fails while this file differs from the document.',
    ' */',
    '',
    ...schemas,
    '',
    '/** Every operation of the API, by path and method: its parameters, its body and its answer’s body by status. */',
    `export interface Paths { ${paths.join('; ')} }`,
    '',
  ].join('\n')
  return format(source)
}

/** The source as Biome formats it, so the generated file reads like the rest and passes `npm run lint`. */
function format(source: string): string {
  const biome = spawnSync(
    join(root, 'node_modules/.bin/biome'),
    ['format', `--stdin-file-path=${relative(root, CLIENT_TYPES_FILE)}`],
    { cwd: root, input: source, encoding: 'utf8' },
  )
  if (biome.status !== 0) throw new Error(`biome could not format the client types: ${biome.stderr}`)
  return biome.stdout
}

if (import.meta.main) {
  writeFileSync(CLIENT_TYPES_FILE, clientTypes(buildOpenApiDocument(routes, loadSettings())))
  process.stdout.write(`client types written to ${relative(process.cwd(), CLIENT_TYPES_FILE)}\n`)
}
