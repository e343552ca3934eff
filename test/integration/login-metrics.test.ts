/**
 * The login counts an operator graphs (docs/deploying.md, Metrics), as the deployed functions write them: the login
 * and token handlers against the real database, each answer's access-log line read back as CloudWatch reads an EMF
 * event.
 */
import { afterAll, describe, expect, it, vi } from 'vitest'
import { handler as login } from '#functions/login'
import { handler as token } from '#functions/token'
import { METRICS_NAMESPACE } from '#shared/http/metrics'
import { INTEGER_SETTINGS } from '#shared/platform/settings'
import { testDatabase } from '#test/helpers/database'
import { formEvent, invoke, jsonEvent, type TestResponse } from '#test/helpers/events'
import { registeredUser, type TokenPairBody } from '#test/helpers/users'

const LOGIN = '/api/v1/auth/login'
const TOKEN = '/api/v1/auth/token'
const database = testDatabase()
afterAll(() => database.close())

/** The answer, and the metrics its request's access-log line carries: `[]` for none. */
async function answered(call: () => Promise<TestResponse>) {
  const lines: string[] = []
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => {
    lines.push(String(chunk))
    return true
  })
  let response: TestResponse
  try {
    response = await call()
  } finally {
    vi.restoreAllMocks()
  }
  const requests = lines
    .flatMap((text) => text.split('\n').filter(Boolean))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.message === 'request')
  expect(requests).toHaveLength(1)
  const [line] = requests as [Record<string, unknown>]
  const directives =
    (
      line._aws as {
        CloudWatchMetrics?: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[]
      }
    )?.CloudWatchMetrics ?? []
  const metrics = directives.flatMap((directive) =>
    directive.Metrics.map((metric) => ({
      namespace: directive.Namespace,
      name: metric.Name,
      value: line[metric.Name],
      dimensions: Object.fromEntries(directive.Dimensions.flat().map((name) => [name, line[name]])),
    })),
  )
  return { status: response.status, metrics }
}

// invoke() runs each handler as the Lambda function `test`.
const logins = (outcome: string) => [
  {
    namespace: METRICS_NAMESPACE,
    name: 'Logins',
    value: 1,
    dimensions: { FunctionName: 'test', Outcome: outcome },
  },
]

describe('the login path’s access-log lines', () => {
  it('count a login 200 as succeeded, a 401 as failed and a 429 as locked', async () => {
    const user = await registeredUser()
    const attempt = (password: string) => () =>
      invoke(login, jsonEvent(LOGIN, { email: user.email, password }))

    expect(await answered(attempt(user.password))).toEqual({ status: 200, metrics: logins('succeeded') })
    // The email's checks are counted before each compare: past the limit, the next is refused unchecked.
    for (let failure = 0; failure < INTEGER_SETTINGS.LOGIN_MAX_FAILURES.default; failure++)
      expect(await answered(attempt('not the password'))).toEqual({ status: 401, metrics: logins('failed') })
    expect(await answered(attempt(user.password))).toEqual({ status: 429, metrics: logins('locked') })
  })

  it('count the token endpoint’s password grant as a login (a wrong password is its 400), its refresh grant as none', async () => {
    const user = await registeredUser()
    const grant = (fields: Record<string, string>) => () => invoke(token, formEvent(TOKEN, fields))

    const issued = await answered(grant({ username: user.email, password: user.password }))
    expect(issued).toEqual({ status: 200, metrics: logins('succeeded') })
    expect(await answered(grant({ username: user.email, password: 'not the password' }))).toEqual({
      status: 400,
      metrics: logins('failed'),
    })

    const pair = await invoke(login, jsonEvent(LOGIN, { email: user.email, password: user.password }))
    const refreshToken = (pair.body as TokenPairBody).refresh_token
    expect(await answered(grant({ grant_type: 'refresh_token', refresh_token: refreshToken }))).toEqual({
      status: 200,
      metrics: [],
    })
  })
})
