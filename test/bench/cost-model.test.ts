import { describe, expect, it } from 'vitest'
import {
  type Assumptions,
  auth0Cost,
  billedMs,
  cognitoCost,
  type KindFigures,
  monthlyCost,
  type Prices,
  requestCost,
  type Usage,
} from '../../bench/cost-model.ts'
import { replaceSection } from '../../bench/docs-section.ts'
import committedPrices from '../../bench/prices.json' with { type: 'json' }
import committedUsage from '../../bench/usage.json' with { type: 'json' }

const price = (usd: number) => ({ usd, per: 'unit', source: 'https://example.com', asOf: '2025' })
/** Round figures, so each expected value can be worked out by hand. */
const prices: Prices = {
  checkedOnline: false,
  writtenOn: '2026-12-07',
  lambda: { armGbSecond: price(0.00001), requestsPerMillion: price(0.2) },
  apiGateway: { httpRequestsPerMillion: price(1) },
  secretsManager: { secretPerMonth: price(0.4), apiCallsPer10k: price(0.05) },
  cloudWatchLogs: { ingestionPerGb: price(0.5) },
  neon: { plans: { launch: { computeUnitHour: price(0.1), storageGbMonth: price(0.35) } } },
  cognito: {
    source: 'https://example.com',
    asOf: '2024-11-22',
    essentials: { freeMau: 10_000, tiers: [{ upToMau: null, usdPerMau: 0.015 }] },
    lite: {
      freeMau: 10_000,
      tiers: [
        { upToMau: 100_000, usdPerMau: 0.0055 },
        { upToMau: 1_000_000, usdPerMau: 0.0046 },
        { upToMau: null, usdPerMau: 0.00325 },
      ],
    },
  },
  auth0: {
    source: 'https://example.com',
    asOf: '2025',
    free: { maxMau: 25_000 },
    b2cEssentials: { usdPerMonth: 35, forMau: 500, selfServeMaxMau: 20_000 },
  },
}
const assumptions: Assumptions = {
  databaseRoundTripMs: 1,
  coldNetworkMs: 50,
  lambdaCoreOverBenchCore: 1,
  logBytesPerRequest: 1000,
  secretCallsPerColdStart: 3,
  secrets: 3,
}
/** A 2048 MB function, above a full vCPU, so its local time is billed as measured. */
const me: KindFigures = { kind: 'me', memoryMb: 2048, warmMs: 9.5, roundTrips: 1, coldExtraMs: 100 }

describe('the cost arithmetic', () => {
  it('bills the local time stretched by the share of a vCPU, plus a round trip per statement, rounded up to 1 ms', () => {
    expect(billedMs(0.5, 1769, 1, assumptions)).toBe(2)
    // 512 MB gets 512/1769 of a vCPU: 0.5 ms × 3.455 + 1 ms = 2.73 ms, billed 3.
    expect(billedMs(0.5, 512, 1, assumptions)).toBe(3)
    expect(billedMs(220.2, 1769, 2, assumptions)).toBe(223)
    expect(billedMs(0, 512, 0, assumptions)).toBe(1)
    expect(billedMs(10, 2048, 0, { ...assumptions, lambdaCoreOverBenchCore: 1.5 }, 50)).toBe(65)
  })

  it('prices a warm request and a cold one, which also pays its secret reads', () => {
    const warm = requestCost(me, prices, assumptions, false)
    // 11 ms billed (9.5 + 1, rounded up) × 2 GB × $0.00001.
    expect(warm.billedMs).toBe(11)
    expect(warm.lambdaCompute).toBeCloseTo(0.011 * 2 * 0.00001, 15)
    expect(warm.lambdaRequest).toBeCloseTo(0.2e-6, 15)
    expect(warm.apiGateway).toBeCloseTo(1e-6, 15)
    expect(warm.logs).toBeCloseTo(0.5e-6, 15)
    expect(warm.secrets).toBe(0)
    expect(warm.total * 1e6).toBeCloseTo(0.22 + 0.2 + 1 + 0.5, 9)

    const cold = requestCost(me, prices, assumptions, true)
    // 9.5 + 100 + 1 round trip + 50 of network = 160.5, billed 161 ms; 3 GetSecretValue calls.
    expect(cold.billedMs).toBe(161)
    expect(cold.secrets).toBeCloseTo((3 / 10_000) * 0.05, 15)
  })

  it('adds up a month: requests at the usage rates, a share of them cold, the secrets, the database', () => {
    const usage: Usage = {
      perStudentPerMonth: { login: 0, refresh: 0, me: 10, sessions: 0, 'password-reset': 0, register: 0 },
      storedUsersPerMau: 2,
      coldShareByMau: { '1000': 0.1 },
      neonByMau: { '1000': { plan: 'launch', computeUnits: 0.5, activeHoursPerDay: 24 } },
      assumptions,
    }
    const month = monthlyCost(1000, [me], usage, prices, 5000)
    expect(month.requests).toBe(10_000)
    expect(month.coldStarts).toBe(1000)
    expect(month.lambdaCompute).toBeCloseTo(9000 * 0.011 * 2 * 0.00001 + 1000 * 0.161 * 2 * 0.00001, 12)
    expect(month.apiGateway).toBeCloseTo(0.01, 12)
    expect(month.lambdaRequests).toBeCloseTo(0.002, 12)
    expect(month.logs).toBeCloseTo(0.005, 12)
    expect(month.secretsManager).toBeCloseTo(3 * 0.4 + 1000 * (3 / 10_000) * 0.05, 12)
    // 0.5 CU for 730 hours at $0.1; 2,000 stored accounts × 5 KB = 0.01 GB at $0.35.
    expect(month.neonCompute).toBeCloseTo(0.5 * 730 * 0.1, 9)
    expect(month.storageGb).toBeCloseTo(0.01, 12)
    expect(month.neonStorage).toBeCloseTo(0.0035, 12)
    expect(month.total).toBeCloseTo(
      month.lambdaCompute +
        month.lambdaRequests +
        month.apiGateway +
        month.logs +
        month.secretsManager +
        month.neonCompute +
        month.neonStorage,
      12,
    )
  })

  it('prices Cognito tier by tier after its free MAU, and Auth0 at its entry rate, by quote past self-serve', () => {
    expect(cognitoCost(10_000, prices.cognito.essentials)).toBe(0)
    expect(cognitoCost(100_000, prices.cognito.essentials)).toBeCloseTo(1350, 9)
    expect(cognitoCost(100_000, prices.cognito.lite)).toBeCloseTo(90_000 * 0.0055, 9)
    expect(cognitoCost(1_000_000, prices.cognito.lite)).toBeCloseTo(495 + 900_000 * 0.0046, 9)
    expect(cognitoCost(2_000_000, prices.cognito.lite)).toBeCloseTo(495 + 4140 + 1_000_000 * 0.00325, 9)
    expect(auth0Cost(10_000, prices.auth0)).toEqual({ free: true, essentials: 700, byQuote: false })
    expect(auth0Cost(100_000, prices.auth0)).toEqual({ free: false, essentials: 7000, byQuote: true })
  })

  it('reads the committed prices and usage: every MAU the report prices has its cold share and database', () => {
    for (const mau of ['10000', '100000', '1000000']) {
      expect(committedUsage.coldShareByMau).toHaveProperty(mau)
      const neon = committedUsage.neonByMau[mau as keyof typeof committedUsage.neonByMau]
      expect(Object.keys(committedPrices.neon.plans)).toContain(neon.plan)
    }
  })
})

describe('a section of the docs a tool writes', () => {
  it('replaces what lies between its markers and nothing else', () => {
    const document = 'before\n<!-- bench:cost:start -->\nold\n<!-- bench:cost:end -->\nafter\n'
    expect(replaceSection(document, 'bench:cost', '| new |\n')).toBe(
      'before\n<!-- bench:cost:start -->\n| new |\n<!-- bench:cost:end -->\nafter\n',
    )
    expect(() => replaceSection(document, 'bench:scale', 'x')).toThrow(/no section/)
  })
})
