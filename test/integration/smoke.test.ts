import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type LocalStack, startLocalStack } from '#infra/local/local-stack'
import { smoke } from '../../scripts/smoke.ts'

const ORIGIN = 'https://app.example.com'
let stack: LocalStack

beforeAll(async () => {
  process.env.ADMIN_EMAIL = 'smoke-admin@example.com'
  process.env.ADMIN_PASSWORD = 'a smoke admin password'
  stack = await startLocalStack({ setup: 'functions', server: { corsOrigins: [ORIGIN] } })
}, 90_000)
afterAll(() => stack?.stop())

describe('npm run smoke', () => {
  it('passes every step against a working API, the CORS preflight from an allowed origin included', async () => {
    const steps = await smoke(`${stack.server?.url}/api/v1`, ORIGIN)
    expect(steps.map(({ step, ok }) => [step, ok])).toEqual([
      ['health', true],
      ['register', true],
      ['login', true],
      ['me', true],
      ['refresh', true],
      ['logout', true],
      ['logged out: refresh refused', true],
      [`CORS preflight from ${ORIGIN}`, true],
    ])
  })

  it('fails the preflight step for an origin the API does not allow', async () => {
    const steps = await smoke(`${stack.server?.url}/api/v1`, 'https://elsewhere.example')
    expect(steps.at(-1)).toMatchObject({ step: 'CORS preflight from https://elsewhere.example', ok: false })
  })
})
