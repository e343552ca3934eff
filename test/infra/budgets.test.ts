import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { lambdas, routes } from '#functions/routes'
import { requestBudgetMs } from '#shared/platform/budget'
import { INTEGER_SETTINGS } from '#shared/platform/settings'
import { functionNamed, MAIL_CONTEXT, type Synthesized, synthesize } from './synth.ts'

let app: Synthesized
beforeAll(() => {
  app = synthesize({ context: { docs: 'true', ...MAIL_CONTEXT } })
})
afterAll(() => app.remove())

const defaults = {
  DATABASE_CONNECT_TIMEOUT_MS: INTEGER_SETTINGS.DATABASE_CONNECT_TIMEOUT_MS.default,
  DATABASE_QUERY_TIMEOUT_MS: INTEGER_SETTINGS.DATABASE_QUERY_TIMEOUT_MS.default,
}
const timeoutMs = (name: string) =>
  Number(app.resources[app.logicalId(functionNamed(app, name))]?.Properties.Timeout) * 1000

describe('time budgets', () => {
  it('gives every API function more time than a request can wait, each wait at its longest', () => {
    const budget = requestBudgetMs(defaults)
    // Secrets (2 attempts of 1 + 2 s, and a backoff of at most 0.5 s between them), a waking compute (3 s), a statement to its server timeout and past it (5.5 s),
    // CPU (1 s), handing a mail job to the mail sender (1.5 s, its retries included) and the answer's margin.
    expect(budget).toBe(6000 + 500 + 3000 + 5500 + 1000 + 1500 + 250)
    for (const name of new Set(routes.map((route) => route.function))) {
      expect(timeoutMs(name), name).toBeGreaterThanOrEqual(budget)
      expect(lambdas[name].timeoutSeconds * 1000, name).toBe(timeoutMs(name))
    }
  })

  it("keeps every API function's timeout under API Gateway's 30 s, so the function's answer is the one a client gets", () => {
    for (const route of routes) expect(timeoutMs(route.function), route.function).toBeLessThan(30_000)
    for (const [, integration] of Object.entries(app.resources).filter(
      ([, resource]) => resource.Type === 'AWS::ApiGatewayV2::Integration',
    )) {
      expect(integration.Properties.TimeoutInMillis ?? 30_000).toBeGreaterThan(requestBudgetMs(defaults))
    }
  })

  it('leaves migrate a minute for its migrations after the longest wait for a concurrent run', () => {
    expect(timeoutMs('migrate')).toBeGreaterThanOrEqual(120_000)
  })
})
