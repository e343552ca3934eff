import * as v from 'valibot'
import { describe, expect, it } from 'vitest'
import { ValidationError, type ValidationIssue } from '#shared/domain/errors'
import { LoginBodySchema, RegisterBodySchema, TokenFormSchema } from '#shared/domain/schemas'
import { type AnySchema, toValidationIssues, validate } from '#shared/http/validation'

type Where = 'body' | 'form'

/** Runs the middleware's `before` on a bare request and returns the body it leaves behind. */
async function validated(schema: AnySchema, where: Where, body: unknown): Promise<unknown> {
  const { before } = validate(schema, where)
  const event = { body }
  // A bare request: `validate` reads and writes only `event.body`, not middy's context, response or internals.
  await before?.({ event } as unknown as Parameters<NonNullable<typeof before>>[0])
  return event.body
}

/** The issues the middleware refuses a body with. */
async function issuesOf(schema: AnySchema, where: Where, body: unknown): Promise<ValidationIssue[]> {
  const error = await validated(schema, where, body).then(
    () => expect.unreachable('the body was accepted'),
    (thrown: unknown) => thrown,
  )
  expect(error).toBeInstanceOf(ValidationError)
  return (error as ValidationError).issues
}

const PASSWORD = 'correct horse battery'
const issue = (field: string, msg: string, type: string): ValidationIssue => ({
  loc: ['body', field],
  msg,
  type,
})
const NOT_AN_EMAIL = 'value is not a valid email address'

describe('validate', () => {
  it.each([
    {
      name: 'a registration',
      schema: RegisterBodySchema,
      where: 'body' as const,
      body: {
        email: '  Alice@Example.COM ',
        password: `  ${PASSWORD}  `,
        username: 'alice_1',
        is_superuser: true,
      },
      output: { email: 'alice@example.com', password: `  ${PASSWORD}  `, username: 'alice_1' },
    },
    {
      name: 'a login',
      schema: LoginBodySchema,
      where: 'body' as const,
      body: { email: 'BOB@example.org\t', password: 'x' },
      output: { email: 'bob@example.org', password: 'x' },
    },
    {
      name: 'a token form',
      schema: TokenFormSchema,
      where: 'form' as const,
      body: {
        grant_type: 'password',
        username: 'bob@example.org',
        password: PASSWORD,
        refresh_token: '',
        scope: '',
      },
      output: { grant_type: 'password', username: 'bob@example.org', password: PASSWORD, scope: '' },
    },
  ])('replaces $name with the validated output', async ({ schema, where, body, output }) => {
    expect(await validated(schema, where, body)).toEqual(output)
  })

  it('reports each absent required field as missing', async () => {
    expect(await issuesOf(RegisterBodySchema, 'body', { username: 'alice' })).toEqual([
      issue('email', 'Field required', 'missing'),
      issue('password', 'Field required', 'missing'),
    ])
  })

  it.each([
    {
      why: 'an email that is no address',
      body: { email: 'alice', password: PASSWORD },
      issue: issue('email', NOT_AN_EMAIL, 'value_error'),
    },
    {
      why: 'an email with a control character',
      body: { email: 'al\u0000ice@example.com', password: PASSWORD },
      issue: issue('email', NOT_AN_EMAIL, 'value_error'),
    },
    {
      why: 'an email over 254 characters',
      body: { email: `${'a'.repeat(64)}@${'b'.repeat(190)}.com`, password: PASSWORD },
      issue: issue('email', `${NOT_AN_EMAIL}: at most 254 characters`, 'max_length'),
    },
    {
      why: 'an email that is no string',
      body: { email: 42, password: PASSWORD },
      issue: issue('email', 'Input should be a valid string', 'string_type'),
    },
    {
      why: 'a password under 8 bytes',
      body: { email: 'a@example.com', password: 'short' },
      issue: issue('password', 'String should have at least 8 bytes', 'value_error'),
    },
    {
      why: 'a password over 72 bytes',
      body: { email: 'a@example.com', password: 'é'.repeat(37) },
      issue: issue('password', 'String should have at most 72 bytes', 'value_error'),
    },
    {
      why: 'a password on the blocklist of common passwords',
      body: { email: 'a@example.com', password: 'Password123' },
      issue: issue(
        'password',
        'This password is on a list of common and breached passwords, which attackers try first; choose another',
        'value_error',
      ),
    },
    {
      why: 'a username with a space',
      body: { email: 'a@example.com', password: PASSWORD, username: 'al ice' },
      issue: issue('username', 'String should be 3 to 50 characters of A-Z a-z 0-9 _ . -', 'value_error'),
    },
  ])('refuses a registration with $why', async ({ body, issue }) => {
    expect(await issuesOf(RegisterBodySchema, 'body', body)).toEqual([issue])
  })

  it('reports every field at once, one entry each', async () => {
    expect(
      await issuesOf(RegisterBodySchema, 'body', { email: ' .al..ice@ ', password: 'short', username: 'x' }),
    ).toEqual([
      issue('email', NOT_AN_EMAIL, 'value_error'),
      issue('password', 'String should have at least 8 bytes', 'value_error'),
      issue('username', 'String should be 3 to 50 characters of A-Z a-z 0-9 _ . -', 'value_error'),
    ])
  })

  it('refuses a login with an empty password', async () => {
    expect(await issuesOf(LoginBodySchema, 'body', { email: 'a@example.com', password: '' })).toEqual([
      issue('password', 'Field required', 'non_empty'),
    ])
  })

  it('refuses a token form with a repeated parameter', async () => {
    expect(await issuesOf(TokenFormSchema, 'form', { grant_type: ['password', 'refresh_token'] })).toEqual([
      issue('grant_type', 'must not be repeated', 'string_type'),
    ])
  })

  it.each([
    ['an array', [{ email: 'a@example.com', password: PASSWORD }]],
    ['a string', 'email=a@example.com'],
    ['null', null],
    ['a number', 42],
  ])('refuses %s as a JSON body with one dict_type issue', async (_, body) => {
    expect(await issuesOf(LoginBodySchema, 'body', body)).toEqual([
      { loc: ['body'], msg: 'Input should be a valid dictionary', type: 'dict_type' },
    ])
  })
})

describe('toValidationIssues', () => {
  it('keeps only the first problem of a field that has several', () => {
    const result = v.safeParse(
      RegisterBodySchema,
      { email: '.al..ice@example', password: 'short' },
      { abortEarly: false },
    )
    const emailProblems = result.issues?.filter((problem) => problem.path?.[0]?.key === 'email') ?? []
    expect(emailProblems.length).toBeGreaterThan(1)

    expect(toValidationIssues(result.issues ?? [])).toEqual([
      issue('email', NOT_AN_EMAIL, 'value_error'),
      issue('password', 'String should have at least 8 bytes', 'value_error'),
    ])
  })
})
