/**
 * Every password check costs the same bcrypt work, whatever the account and the cost of its stored hash: one compare
 * at the target cost T, the highest of BCRYPT_COST and the stored hashes' costs. Counted, not timed: the real bcryptjs
 * runs every compare, and a spy that calls through records the cost of each; the work of a compare at cost c is 2^c
 * key expansions. Through the real handlers (each scenario a cold container, as a new Lambda container reads the
 * highest stored cost at its first check), on a database of this file's own, migrated by the committed migrations, so
 * its stored costs are only the ones the tests put there.
 */

import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda'
import bcrypt from 'bcryptjs'
import { sql } from 'drizzle-orm'
import { afterAll, afterEach, beforeEach, describe, expect, inject, it, vi } from 'vitest'
import { runMigrations } from '#db/migrate'
import { createPasswordCostRepository, HIGHEST_STORED_COST } from '#db/repositories/password-costs'
import { passwordCostOf } from '#db/schema'
import { migrationLimits } from '#shared/app/operations'
import { costOf } from '#shared/domain/passwords'
import { loadSettings } from '#shared/platform/config'
import { testDatabase } from '#test/helpers/database'
import { formEvent, invoke, jsonEvent, uniqueEmail } from '#test/helpers/events'
import { dropDatabase, legacyDatabase } from '#test/helpers/legacy-database'

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyResultV2>

const database = await legacyDatabase('password_cost', '')
await runMigrations({
  url: database.ownerUrl,
  wsProxy: inject('wsProxy'),
  limits: migrationLimits(loadSettings()),
})
const own = testDatabase(database.ownerUrl)
afterAll(async () => {
  await own.close()
  await dropDatabase(database)
})
afterEach(() => {
  vi.restoreAllMocks()
  vi.unstubAllEnvs()
})

const PASSWORD = 'the right password'
const AT_10 = await bcrypt.hash(PASSWORD, 10)
// Each test starts from every stored hash at cost 10 (as if each account had logged in at BCRYPT_COST 10).
beforeEach(async () => {
  await own.db.execute(sql`update users set hashed_password = ${AT_10}`)
})

/** The handlers of a fresh container (a cold start) at `bcryptCost`, pointed at this file's database. */
async function coldHandlers(bcryptCost: number) {
  vi.resetModules()
  vi.stubEnv('DATABASE_URL', database.apiUrl)
  vi.stubEnv('BCRYPT_COST', String(bcryptCost))
  const load = async (name: string) =>
    ((await import(`../../functions/${name}.ts`)) as { handler: Handler }).handler
  const [login, token, changePassword] = await Promise.all(['login', 'token', 'change-password'].map(load))
  return { login, token, changePassword } as Record<'login' | 'token' | 'changePassword', Handler>
}

/** An account whose stored hash of PASSWORD has `cost`, written as a carried-over or earlier hash would be. */
async function accountAt(cost: number, { active = true } = {}) {
  const email = uniqueEmail(`cost${cost}`)
  const hash = await bcrypt.hash(PASSWORD, cost)
  const { rows } = await own.db.execute<{ id: number }>(
    sql`insert into users (email, hashed_password, is_active) values (${email}, ${hash}, ${active}) returning id`,
  )
  return { id: rows[0]?.id as number, email }
}

const storedCost = async (id: number) => {
  const { rows } = await own.db.execute<{ h: string }>(
    sql`select hashed_password as h from users where id = ${id}`,
  )
  return bcrypt.getRounds(rows[0]?.h ?? '')
}

/** The costs of the bcrypt compares `action` runs (the real ones: the spy calls through), and its answer. */
async function compares<T>(action: () => Promise<T>): Promise<{ costs: number[]; answer: T }> {
  const compare = vi.spyOn(bcrypt, 'compare')
  try {
    const answer = await action()
    return { costs: compare.mock.calls.map(([, hash]) => bcrypt.getRounds(hash as string)), answer }
  } finally {
    compare.mockRestore()
  }
}

const work = (costs: number[]) => costs.reduce((sum, cost) => sum + 2 ** cost, 0)
const loginAs = (handler: Handler, email: string, password: string) =>
  invoke(handler, jsonEvent('/api/v1/auth/login', { email, password }))

describe('the bcrypt work of a password check', () => {
  it('is one compare at BCRYPT_COST for an unknown email, a wrong password and the right one, all hashes at it', async () => {
    const account = await accountAt(10)
    const { login } = await coldHandlers(10)
    const unknown = await compares(() => loginAs(login, uniqueEmail('nobody'), PASSWORD))
    const wrong = await compares(() => loginAs(login, account.email, 'a wrong password'))
    const right = await compares(() => loginAs(login, account.email, PASSWORD))
    expect([unknown.answer.status, wrong.answer.status, right.answer.status]).toEqual([401, 401, 200])
    expect([unknown.costs, wrong.costs, right.costs]).toEqual([[10], [10], [10]])
  })

  it('rises with a stored hash above BCRYPT_COST: an unknown email pays it, a cheaper hash pads to it, on every path', async () => {
    const cheaper = await accountAt(10)
    const inactive = await accountAt(10, { active: false })
    const costlier = await accountAt(11)
    const { login, token, changePassword } = await coldHandlers(10)
    const unknown = await compares(() => loginAs(login, uniqueEmail('nobody'), PASSWORD))
    expect(unknown.costs).toEqual([11])

    const paths = {
      'login, wrong password at 10': () => loginAs(login, cheaper.email, 'a wrong password'),
      'login, inactive account at 10': () => loginAs(login, inactive.email, PASSWORD),
      'login, wrong password at 11': () => loginAs(login, costlier.email, 'a wrong password'),
      'token, unknown email': () =>
        invoke(
          token,
          formEvent('/api/v1/auth/token', { username: uniqueEmail('nobody'), password: PASSWORD }),
        ),
      'token, wrong password at 10': () =>
        invoke(
          token,
          formEvent('/api/v1/auth/token', { username: cheaper.email, password: 'a wrong password' }),
        ),
      'login, right password at 10': () => loginAs(login, cheaper.email, PASSWORD),
    }
    for (const [path, action] of Object.entries(paths)) {
      const { costs } = await compares(action)
      expect(work(costs), `${path}: ${costs.join(', ')}`).toBe(work(unknown.costs))
    }

    // The change of password checks the current one the same way, right or wrong.
    const session = (await loginAs(login, cheaper.email, PASSWORD)).body as { access_token: string }
    const wrongCurrent = await compares(() =>
      invoke(
        changePassword,
        jsonEvent(
          '/api/v1/users/me/password',
          { current_password: 'a wrong password', new_password: 'a brand new password' },
          { headers: { authorization: `Bearer ${session.access_token}` } },
        ),
      ),
    )
    expect(wrongCurrent.answer.status).toBe(400)
    expect(wrongCurrent.costs).toEqual([10, 10])
  })

  it('rehashes a hash above BCRYPT_COST down at the next successful login, and the target follows it down', async () => {
    const costlier = await accountAt(11)
    const { login } = await coldHandlers(10)
    expect((await compares(() => loginAs(login, uniqueEmail('nobody'), PASSWORD))).costs).toEqual([11])
    expect((await loginAs(login, costlier.email, 'a wrong password')).status).toBe(401)
    expect(await storedCost(costlier.id)).toBe(11)
    const right = await compares(() => loginAs(login, costlier.email, PASSWORD))
    expect(right.answer.status).toBe(200)
    expect(right.costs).toEqual([11])
    expect(await storedCost(costlier.id)).toBe(10)
    expect((await loginAs(login, costlier.email, PASSWORD)).status).toBe(200)
    // No hash at 11 is left: a new container's target is BCRYPT_COST again.
    const fresh = await coldHandlers(10)
    expect((await compares(() => loginAs(fresh.login, uniqueEmail('nobody'), PASSWORD))).costs).toEqual([10])
  })

  it('verifies a hash made by the seed backend (passlib, $2b$12$), at its cost, and rehashes it down', async () => {
    // "secret-password" hashed by libxcrypt's bcrypt, the same $2b$ format passlib writes through its bcrypt backend.
    // In this file's database: anywhere else, its cost would be every other test file's target while it is stored.
    const legacyHash = '$2b$12$HTpjSvQuqc3A3O/qlEHpjeqJLwUNXyf8Y2iOBv0jtHE2T4c0QxrSa'
    const { id, email } = await accountAt(10)
    await own.db.execute(sql`update users set hashed_password = ${legacyHash} where id = ${id}`)
    const { login } = await coldHandlers(11)
    expect((await compares(() => loginAs(login, uniqueEmail('nobody'), PASSWORD))).costs).toEqual([12])
    const right = await compares(() => loginAs(login, email, 'secret-password'))
    expect(right.answer.status).toBe(200)
    expect(right.costs).toEqual([12])
    expect(await storedCost(id)).toBe(11)
    expect((await loginAs(login, email, 'secret-password')).status).toBe(200)
  })

  it('rehashes a hash below BCRYPT_COST up at the next successful login', async () => {
    const cheaper = await accountAt(10)
    const { login } = await coldHandlers(11)
    const right = await compares(() => loginAs(login, cheaper.email, PASSWORD))
    expect(right.answer.status).toBe(200)
    expect(right.costs).toEqual([10, 10])
    expect(await storedCost(cheaper.id)).toBe(11)
    expect((await loginAs(login, cheaper.email, PASSWORD)).status).toBe(200)
  })
})

describe('the highest stored cost', () => {
  it('is read by the same rule as the hasher’s: only hashes bcrypt compares in full count', async () => {
    const tail = 'a'.repeat(53)
    const candidates = [
      `$2b$12$${tail}`,
      `$2a$04$${tail}`,
      `$2y$31$${tail}`,
      `$2x$13$${tail}`,
      `$2$13$${tail}`,
      `$2b$03$${tail}`,
      `$2b$32$${tail}`,
      `$2b$12$${tail}a`,
      `$2b$12$${tail.slice(1)}!`,
      'not a bcrypt hash',
      '',
      await bcrypt.hash('x', 4),
    ]
    const { rows } = await own.db.execute<{ hash: string; cost: string | null }>(
      sql`select hash, ${passwordCostOf(sql`hash`)} as cost
        from unnest(array[${sql.join(
          candidates.map((hash) => sql`${hash}`),
          sql`, `,
        )}]::text[]) with ordinality as candidate (hash, position) order by position`,
    )
    expect(rows.map((row) => [row.hash, row.cost === null ? null : Number(row.cost)])).toEqual(
      candidates.map((hash) => [hash, costOf(hash)]),
    )
  })

  it('is one lookup in users_password_cost_idx, however many accounts there are', async () => {
    await accountAt(10)
    // 20,000 accounts at costs 04 to 09, below that one, then the planner's statistics.
    await own.db.execute(sql`insert into users (email, hashed_password)
      select 'filler' || i || '@example.com', '$2b$0' || (4 + i % 6) || '$' || rpad(md5(i::text), 53, 'a')
      from generate_series(1, 20000) as i`)
    await own.db.execute(sql`analyze users`)
    const explained = await own.db.execute<{ 'QUERY PLAN': string }>(sql`explain ${HIGHEST_STORED_COST}`)
    const plan = explained.rows.map((row) => row['QUERY PLAN']).join('\n')
    expect(plan).toMatch(/Index (Only )?Scan Backward using users_password_cost_idx/)
    expect(plan).not.toMatch(/Seq Scan/)
    expect(await createPasswordCostRepository(own.service).highestStoredCost()).toBe(10)
  })
})
