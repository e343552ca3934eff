/**
 * The counts an operator graphs (docs/deploying.md, Metrics): the EMF members of a log line, which CloudWatch Logs
 * turns into metrics, and what the HTTP layer counts for each answer of a function that declares `counts`.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { InvalidCredentialsError, TooManyAttemptsError } from '#shared/domain/errors'
import { grantTypeOf, LoginBodySchema, TokenFormSchema } from '#shared/domain/schemas'
import { accepted, httpHandler, noContent, ok } from '#shared/http/handler'
import { COUNTS, type CountedAs, countOf, METRICS_NAMESPACE } from '#shared/http/metrics'
import { embeddedMetrics } from '#shared/platform/metrics'
import { formEvent, invoke, jsonEvent } from '#test/helpers/events'

afterEach(() => {
  vi.restoreAllMocks()
})

/** Every line the code under test writes to stdout, parsed. */
async function loggedLines(action: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const lines: string[] = []
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => {
    lines.push(String(chunk))
    return true
  })
  try {
    await action()
  } finally {
    vi.restoreAllMocks()
  }
  return lines.flatMap((text) => text.split('\n').filter(Boolean)).map((line) => JSON.parse(line))
}

/**
 * The metrics CloudWatch extracts from one log event, as the EMF specification says it does: each directive's metrics,
 * each valued by the root member of its name, with the dimension values the root members of each set's names hold.
 * Throws where CloudWatch would reject the event.
 */
function extracted(event: Record<string, unknown>) {
  const aws = event._aws as {
    Timestamp: unknown
    CloudWatchMetrics: {
      Namespace: unknown
      Dimensions: unknown
      Metrics: { Name: string; Unit?: string }[]
    }[]
  }
  if (typeof aws?.Timestamp !== 'number' || !Number.isInteger(aws.Timestamp)) throw new Error('no Timestamp')
  if (!Array.isArray(aws.CloudWatchMetrics)) throw new Error('no CloudWatchMetrics')
  return aws.CloudWatchMetrics.flatMap((directive) => {
    if (typeof directive.Namespace !== 'string' || directive.Namespace === '') throw new Error('no Namespace')
    const sets = directive.Dimensions as string[][]
    if (!Array.isArray(sets) || sets.some((set) => !Array.isArray(set))) throw new Error('bad Dimensions')
    return directive.Metrics.flatMap((metric) => {
      const value = event[metric.Name]
      if (typeof value !== 'number') throw new Error(`no value for ${metric.Name}`)
      return sets.map((set) => ({
        namespace: directive.Namespace,
        name: metric.Name,
        unit: metric.Unit,
        value,
        dimensions: Object.fromEntries(
          set.map((name) => {
            const dimension = event[name]
            if (typeof dimension !== 'string' || dimension === '') throw new Error(`no value for ${name}`)
            return [name, dimension]
          }),
        ),
      }))
    })
  })
}

describe('an EMF event', () => {
  const timestamp = Date.UTC(2025, 0, 2, 3, 4, 5)

  it('has _aws.Timestamp, one directive with the namespace, a dimension set and the metrics, and their values', () => {
    const members = embeddedMetrics({
      namespace: 'PapaAuth',
      dimensions: { FunctionName: 'PapaAuth-LoginFunction-abc', Outcome: 'failed' },
      counts: { Logins: 1 },
      timestamp,
    })
    expect(members).toEqual({
      _aws: {
        Timestamp: timestamp,
        CloudWatchMetrics: [
          {
            Namespace: 'PapaAuth',
            Dimensions: [['FunctionName', 'Outcome']],
            Metrics: [{ Name: 'Logins', Unit: 'Count' }],
          },
        ],
      },
      FunctionName: 'PapaAuth-LoginFunction-abc',
      Outcome: 'failed',
      Logins: 1,
    })
    expect(extracted(JSON.parse(JSON.stringify(members)))).toEqual([
      {
        namespace: 'PapaAuth',
        name: 'Logins',
        unit: 'Count',
        value: 1,
        dimensions: { FunctionName: 'PapaAuth-LoginFunction-abc', Outcome: 'failed' },
      },
    ])
  })

  it('is none where CloudWatch would drop it: an empty dimension, a name both dimension and metric, no metric', () => {
    const base = { namespace: 'PapaAuth', counts: { Logins: 1 }, timestamp }
    expect(embeddedMetrics({ ...base, dimensions: { FunctionName: '' } })).toBeUndefined()
    expect(embeddedMetrics({ ...base, dimensions: { Logins: 'x' } })).toBeUndefined()
    expect(embeddedMetrics({ ...base, counts: {}, dimensions: { FunctionName: 'f' } })).toBeUndefined()
  })
})

describe('what an answer counts as', () => {
  const answer = (status: number, code?: Parameters<typeof countOf>[1]['code']) => ({ status, code })

  it('a login: 2xx succeeded, a wrong password failed (401, or 400 at the token endpoint), a lock locked', () => {
    expect(countOf('login', answer(200))).toEqual({ metric: 'Logins', outcome: 'succeeded' })
    expect(countOf('login', answer(401, 'INVALID_CREDENTIALS'))).toEqual({
      metric: 'Logins',
      outcome: 'failed',
    })
    expect(countOf('login', answer(400, 'INVALID_CREDENTIALS'))).toEqual({
      metric: 'Logins',
      outcome: 'failed',
    })
    expect(countOf('login', answer(429, 'TOO_MANY_ATTEMPTS'))).toEqual({
      metric: 'Logins',
      outcome: 'locked',
    })
  })

  it('nothing for what is no login outcome: a bad request, an unverified account, the service failing', () => {
    for (const [status, code] of [
      [422, 'VALIDATION_FAILED'],
      [415, 'UNSUPPORTED_MEDIA_TYPE'],
      [403, 'EMAIL_NOT_VERIFIED'],
      [503, 'DATABASE_UNAVAILABLE'],
      [503, 'TIMEOUT'],
      [500, undefined],
    ] as const)
      expect(countOf('login', answer(status, code)), `${status} ${code}`).toBeUndefined()
  })

  it('a reset requested (202, known email or not) and a reset confirmed; a refused one counts as neither', () => {
    expect(countOf('password-reset', answer(202))).toEqual({ metric: 'PasswordResets', outcome: 'requested' })
    expect(countOf('password-reset-confirm', answer(204))).toEqual({
      metric: 'PasswordResets',
      outcome: 'confirmed',
    })
    expect(countOf('password-reset', answer(429, 'PASSWORD_RESET_LIMIT'))).toBeUndefined()
    expect(countOf('password-reset', answer(503, 'MAIL_NOT_CONFIGURED'))).toBeUndefined()
    expect(countOf('password-reset-confirm', answer(400, 'INVALID_RESET_TOKEN'))).toBeUndefined()
  })

  it('only ever an outcome the metric declares, so the dimension has a few fixed values', () => {
    const codes = ['INVALID_CREDENTIALS', 'TOO_MANY_ATTEMPTS', 'PASSWORD_RESET_LIMIT', undefined] as const
    for (const counted of ['login', 'password-reset', 'password-reset-confirm'] as CountedAs[])
      for (const status of [200, 201, 202, 204, 400, 401, 429])
        for (const code of codes) {
          const count = countOf(counted, answer(status, code))
          if (count)
            expect(COUNTS[count.metric] as readonly string[], `${counted} ${status} ${code}`).toContain(
              count.outcome,
            )
        }
  })
})

describe('the access-log line of a function whose answers count', () => {
  const LOGIN = '/api/v1/auth/login'
  // The login function's shape: its schema, and the errors its service throws.
  const login = httpHandler(
    async ({ body }) => {
      if (body.password === 'locked password') throw new TooManyAttemptsError(60)
      if (body.password !== 'right password') throw new InvalidCredentialsError()
      return ok({ access_token: 'a.b.c' })
    },
    { callers: 'anyone', body: LoginBodySchema, counts: 'login' },
  )
  const requestLine = (lines: Record<string, unknown>[]) => {
    const found = lines.filter((line) => line.message === 'request')
    expect(found).toHaveLength(1)
    return found[0] as Record<string, unknown>
  }

  it('carries one Logins count for a 200, a 401 and a 429, by FunctionName and Outcome', async () => {
    for (const [password, status, outcome] of [
      ['right password', 200, 'succeeded'],
      ['wrong password', 401, 'failed'],
      ['locked password', 429, 'locked'],
    ] as const) {
      const lines = await loggedLines(async () => {
        expect((await invoke(login, jsonEvent(LOGIN, { email: 'a@example.com', password }))).status).toBe(
          status,
        )
      })
      const line = requestLine(lines)
      expect(line).toMatchObject({ level: 'info', status, route: `POST ${LOGIN}` })
      expect(extracted(line)).toEqual([
        {
          namespace: METRICS_NAMESPACE,
          name: 'Logins',
          unit: 'Count',
          value: 1,
          // invoke() runs the handler as the Lambda function `test`.
          dimensions: { FunctionName: 'test', Outcome: outcome },
        },
      ])
      // The event's time is the line's own.
      const { Timestamp } = line._aws as { Timestamp: number }
      expect(Math.abs(Timestamp - Date.parse(String(line.time)))).toBeLessThan(1000)
    }
  })

  it('holds no email, password or token in a metric member: only the line’s own fields, the counts and two dimensions', async () => {
    const lines = await loggedLines(() =>
      invoke(login, jsonEvent(LOGIN, { email: 'someone@example.com', password: 'right password' })),
    )
    const line = requestLine(lines)
    expect(Object.keys(line).sort()).toEqual(
      ['FunctionName', 'Logins', 'Outcome', '_aws', 'durationMs', 'level', 'message', 'requestId', 'route']
        .concat(['status', 'time'])
        .sort(),
    )
    expect(JSON.stringify(line)).not.toMatch(/someone|right password|a\.b\.c/)
  })

  it('carries nothing for an answer that counts as nothing, nor for a function that declares no counts', async () => {
    const malformed = await loggedLines(() =>
      invoke(login, jsonEvent(LOGIN, 'not an object', { headers: { 'content-type': 'text/plain' } })),
    )
    expect(requestLine(malformed)).not.toHaveProperty('_aws')
    const uncounted = httpHandler(async () => ok({}), { callers: 'anyone' })
    expect(requestLine(await loggedLines(() => invoke(uncounted, jsonEvent(LOGIN, {}))))).not.toHaveProperty(
      '_aws',
    )
  })

  it('counts a reset requested and a reset confirmed', async () => {
    const request = httpHandler(async () => accepted({ detail: 'sent' }), {
      callers: 'anyone',
      counts: 'password-reset',
    })
    const confirm = httpHandler(async () => noContent(), {
      callers: 'anyone',
      counts: 'password-reset-confirm',
    })
    for (const [handler, outcome] of [
      [request, 'requested'],
      [confirm, 'confirmed'],
    ] as const) {
      const line = requestLine(await loggedLines(() => invoke(handler, jsonEvent('/reset', {}))))
      expect(extracted(line)).toEqual([
        expect.objectContaining({
          name: 'PasswordResets',
          dimensions: { FunctionName: 'test', Outcome: outcome },
        }),
      ])
    }
  })

  it('counts the token endpoint’s password grant as a login, and its refresh grant as nothing', async () => {
    const token = httpHandler(async () => ok({ access_token: 'a.b.c' }), {
      callers: 'anyone',
      form: TokenFormSchema,
      errors: 'oauth',
      counts: (form) => (grantTypeOf(form) === 'password' ? 'login' : undefined),
    })
    const TOKEN = '/api/v1/auth/token'
    const password = requestLine(
      await loggedLines(() => invoke(token, formEvent(TOKEN, { username: 'a@example.com', password: 'x' }))),
    )
    expect(extracted(password)).toEqual([
      expect.objectContaining({ name: 'Logins', dimensions: { FunctionName: 'test', Outcome: 'succeeded' } }),
    ])
    const refresh = requestLine(
      await loggedLines(() =>
        invoke(token, formEvent(TOKEN, { grant_type: 'refresh_token', refresh_token: 'r' })),
      ),
    )
    expect(refresh).not.toHaveProperty('_aws')
  })
})
