/**
 * The arithmetic of `npm run bench:cost`, without I/O: a request's billed duration from what the bench measured, what
 * it costs on AWS, a month's bill at a number of monthly active students, and Cognito's and Auth0's list prices for
 * the same MAU. Inputs are bench/prices.json, bench/usage.json and the bench's figures.
 */

/** Lambda gives a function one full vCPU at this much memory, and that share of one below it. */
export const FULL_VCPU_MB = 1769

export const REQUEST_KINDS = ['login', 'refresh', 'me', 'sessions', 'password-reset', 'register'] as const
export type RequestKind = (typeof REQUEST_KINDS)[number]

export interface Price {
  usd: number
  per: string
  source: string
  asOf: string
}

export interface CognitoTier {
  /** The tier's last MAU; null for the last tier. */
  upToMau: number | null
  usdPerMau: number
}

export interface Prices {
  /** Whether each price was re-read at its source on `writtenOn`. */
  checkedOnline: boolean
  writtenOn: string
  lambda: { armGbSecond: Price; requestsPerMillion: Price }
  apiGateway: { httpRequestsPerMillion: Price }
  secretsManager: { secretPerMonth: Price; apiCallsPer10k: Price }
  cloudWatchLogs: { ingestionPerGb: Price }
  neon: { plans: Record<string, { computeUnitHour: Price; storageGbMonth: Price }> }
  cognito: {
    source: string
    asOf: string
    essentials: { freeMau: number; tiers: CognitoTier[] }
    lite: { freeMau: number; tiers: CognitoTier[] }
  }
  auth0: {
    source: string
    asOf: string
    free: { maxMau: number }
    b2cEssentials: { usdPerMonth: number; forMau: number; selfServeMaxMau: number }
  }
}

export interface Assumptions {
  databaseRoundTripMs: number
  coldNetworkMs: number
  lambdaCoreOverBenchCore: number
  logBytesPerRequest: number
  secretCallsPerColdStart: number
  secrets: number
}

export interface Usage {
  perStudentPerMonth: Record<RequestKind, number>
  storedUsersPerMau: number
  coldShareByMau: Record<string, number>
  neonByMau: Record<string, { plan: string; computeUnits: number; activeHoursPerDay: number }>
  assumptions: Assumptions
}

/** What the bench measured for one kind of request, on its machine. */
export interface KindFigures {
  kind: RequestKind
  memoryMb: number
  /** The warm request's median, at the service's configured bcrypt cost. */
  warmMs: number
  roundTrips: number
  /** What a cold start adds to a request locally: process start, import, secrets and connection, less a warm request. */
  coldExtraMs: number
}

/**
 * Milliseconds Lambda bills for a request (rounded up to the next 1 ms): the local time stretched by the function's
 * share of a vCPU, plus a network round trip to the database per statement, plus `networkMs` more.
 */
export function billedMs(
  localMs: number,
  memoryMb: number,
  roundTrips: number,
  assumptions: Assumptions,
  networkMs = 0,
): number {
  const cpuStretch = assumptions.lambdaCoreOverBenchCore * Math.max(1, FULL_VCPU_MB / memoryMb)
  return Math.max(
    1,
    Math.ceil(localMs * cpuStretch + roundTrips * assumptions.databaseRoundTripMs + networkMs),
  )
}

export interface RequestCost {
  billedMs: number
  lambdaCompute: number
  lambdaRequest: number
  apiGateway: number
  logs: number
  secrets: number
  total: number
}

/** One request's cost in USD; a cold one also pays its container's secret reads. */
export function requestCost(
  figures: KindFigures,
  prices: Prices,
  assumptions: Assumptions,
  cold: boolean,
): RequestCost {
  const billed = cold
    ? billedMs(
        figures.warmMs + figures.coldExtraMs,
        figures.memoryMb,
        figures.roundTrips,
        assumptions,
        assumptions.coldNetworkMs,
      )
    : billedMs(figures.warmMs, figures.memoryMb, figures.roundTrips, assumptions)
  // Lambda counts memory in GB of 1024 MB.
  const lambdaCompute = (billed / 1000) * (figures.memoryMb / 1024) * prices.lambda.armGbSecond.usd
  const lambdaRequest = prices.lambda.requestsPerMillion.usd / 1e6
  const apiGateway = prices.apiGateway.httpRequestsPerMillion.usd / 1e6
  const logs = (assumptions.logBytesPerRequest / 1e9) * prices.cloudWatchLogs.ingestionPerGb.usd
  const secrets = cold
    ? (assumptions.secretCallsPerColdStart / 10_000) * prices.secretsManager.apiCallsPer10k.usd
    : 0
  return {
    billedMs: billed,
    lambdaCompute,
    lambdaRequest,
    apiGateway,
    logs,
    secrets,
    total: lambdaCompute + lambdaRequest + apiGateway + logs + secrets,
  }
}

export interface MonthlyCost {
  mau: number
  requests: number
  coldStarts: number
  lambdaCompute: number
  lambdaRequests: number
  apiGateway: number
  logs: number
  secretsManager: number
  neonCompute: number
  neonStorage: number
  storageGb: number
  neon: { plan: string; computeUnits: number; hours: number }
  total: number
}

const HOURS_PER_MONTH = 730
const DAYS_PER_MONTH = HOURS_PER_MONTH / 24

/** A month of this backend at `mau` students: every request kind at the usage's rates, the database as sized. */
export function monthlyCost(
  mau: number,
  kinds: KindFigures[],
  usage: Usage,
  prices: Prices,
  bytesPerStoredUser: number,
): MonthlyCost {
  const coldShare = usage.coldShareByMau[String(mau)]
  const neon = usage.neonByMau[String(mau)]
  if (coldShare === undefined || neon === undefined)
    throw new Error(`usage.json has no figures for ${mau} MAU`)
  const plan = prices.neon.plans[neon.plan]
  if (!plan) throw new Error(`prices.json has no Neon plan ${neon.plan}`)
  const { assumptions } = usage
  const sum = {
    requests: 0,
    coldStarts: 0,
    lambdaCompute: 0,
    lambdaRequests: 0,
    apiGateway: 0,
    logs: 0,
    secretCalls: 0,
  }
  for (const figures of kinds) {
    const requests = mau * usage.perStudentPerMonth[figures.kind]
    const warm = requestCost(figures, prices, assumptions, false)
    const cold = requestCost(figures, prices, assumptions, true)
    const colds = requests * coldShare
    const warms = requests - colds
    sum.requests += requests
    sum.coldStarts += colds
    sum.lambdaCompute += warms * warm.lambdaCompute + colds * cold.lambdaCompute
    sum.lambdaRequests += requests * warm.lambdaRequest
    sum.apiGateway += requests * warm.apiGateway
    sum.logs += requests * warm.logs
    sum.secretCalls += colds * cold.secrets
  }
  const secretsManager = assumptions.secrets * prices.secretsManager.secretPerMonth.usd + sum.secretCalls
  const hours = neon.activeHoursPerDay * DAYS_PER_MONTH
  const neonCompute = neon.computeUnits * hours * plan.computeUnitHour.usd
  const storageGb = (mau * usage.storedUsersPerMau * bytesPerStoredUser) / 1e9
  const neonStorage = storageGb * plan.storageGbMonth.usd
  const total =
    sum.lambdaCompute +
    sum.lambdaRequests +
    sum.apiGateway +
    sum.logs +
    secretsManager +
    neonCompute +
    neonStorage
  return {
    mau,
    requests: sum.requests,
    coldStarts: sum.coldStarts,
    lambdaCompute: sum.lambdaCompute,
    lambdaRequests: sum.lambdaRequests,
    apiGateway: sum.apiGateway,
    logs: sum.logs,
    secretsManager,
    neonCompute,
    neonStorage,
    storageGb,
    neon: { plan: neon.plan, computeUnits: neon.computeUnits, hours },
    total,
  }
}

/** Cognito's monthly price for `mau` on a tier list: the free MAU first, then each tier's rate for its share. */
export function cognitoCost(mau: number, tier: { freeMau: number; tiers: CognitoTier[] }): number {
  let cost = 0
  let from = tier.freeMau
  for (const { upToMau, usdPerMau } of tier.tiers) {
    const to = upToMau ?? Number.POSITIVE_INFINITY
    if (mau > from) cost += (Math.min(mau, to) - from) * usdPerMau
    from = Math.max(from, to)
  }
  return cost
}

/** Auth0's list price for `mau`: free up to its limit; B2C Essentials at its entry rate, and whether that is a quote. */
export function auth0Cost(mau: number, auth0: Prices['auth0']) {
  const { usdPerMonth, forMau, selfServeMaxMau } = auth0.b2cEssentials
  return {
    free: mau <= auth0.free.maxMau,
    essentials: Math.ceil(mau / forMau) * usdPerMonth,
    byQuote: mau > selfServeMaxMau,
  }
}
