import { describe, expect, it } from 'vitest'
import { PRODUCTION_POSTGRES_MAJOR } from '#infra/local/postgres'
import { synthesize } from './synth.ts'

describe("the local stack's PostgreSQL", () => {
  it('is the major the stack creates on Neon by default, so tests and npm start run what production runs', () => {
    const app = synthesize()
    try {
      const neon = Object.values(app.resources).find((resource) => resource.Type === 'Custom::NeonProject')
      expect(Number(neon?.Properties.PgVersion)).toBe(PRODUCTION_POSTGRES_MAJOR)
    } finally {
      app.remove()
    }
  })
})
