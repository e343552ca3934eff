import type { MiddlewareObj } from '@middy/core'
import * as v from 'valibot'
import { ValidationError, type ValidationIssue } from '#shared/domain/errors'

export type AnySchema = v.GenericSchema<unknown, unknown>

/**
 * Validates the parsed body (`body`: a JSON object) or form (`form`) against a valibot schema and replaces it with
 * the schema's output; every problem is reported, in FastAPI's 422 shape.
 */
export function validate(schema: AnySchema, where: 'body' | 'form'): MiddlewareObj<{ body?: unknown }> {
  return {
    before: ({ event }) => {
      const input: unknown = event.body
      if (where === 'body' && (typeof input !== 'object' || input === null || Array.isArray(input))) {
        throw new ValidationError([
          { loc: ['body'], msg: 'Input should be a valid dictionary', type: 'dict_type' },
        ])
      }
      const result = v.safeParse(schema, input, { abortEarly: false, abortPipeEarly: true })
      if (!result.success) throw new ValidationError(toValidationIssues(result.issues))
      event.body = result.output
    },
  }
}

/**
 * The route's path parameters or query string checked against a schema (422 in FastAPI's shape, `loc` starting
 * `path` or `query`), after the caller was authenticated: what a handler reads from the URL.
 */
export function parseInput<TSchema extends AnySchema>(
  schema: TSchema,
  input: Readonly<Record<string, string | undefined>> | undefined,
  where: 'path' | 'query',
): v.InferOutput<TSchema> {
  const result = v.safeParse(schema, input ?? {}, { abortEarly: false, abortPipeEarly: true })
  if (!result.success) throw new ValidationError(toValidationIssues(result.issues, where))
  return result.output
}

/** Valibot issues in FastAPI's shape, one entry per field: `{loc: ["body", "email"], msg, type}`. */
export function toValidationIssues(
  issues: readonly v.BaseIssue<unknown>[],
  where: 'body' | 'path' | 'query' = 'body',
): ValidationIssue[] {
  const seen = new Set<string>()
  const result: ValidationIssue[] = []
  for (const issue of issues) {
    const path = (issue.path ?? []).map((item) => item.key as string | number)
    const key = JSON.stringify(path)
    if (seen.has(key)) continue
    seen.add(key)
    const missing = issue.input === undefined && issue.kind === 'schema'
    result.push({
      loc: [where, ...path],
      msg: missing ? 'Field required' : issue.message.replace(/^Invalid \w+: /, ''),
      type: missing ? 'missing' : issueType(issue),
    })
  }
  return result
}

const issueType = (issue: v.BaseIssue<unknown>): string => {
  if (issue.kind === 'schema') return `${issue.type}_type`
  if (issue.type === 'email' || issue.type === 'regex' || issue.type === 'check') return 'value_error'
  return issue.type
}
