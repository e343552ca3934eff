import bcrypt from 'bcryptjs'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  costOf,
  createPasswordHasher,
  DUMMY_COSTS,
  dummyHash,
  STORED_COST_TTL_MS,
} from '#shared/domain/passwords'
import type { PasswordCostRepository } from '#shared/domain/ports'
import { INTEGER_SETTINGS } from '#shared/platform/config'

afterEach(() => vi.restoreAllMocks())

/** The cost of every bcrypt compare from here on, in order: the real bcryptjs runs each (a spy that calls through). */
function recordedCompares() {
  const compare = vi.spyOn(bcrypt, 'compare')
  return {
    costs: () => compare.mock.calls.map(([, hash]) => bcrypt.getRounds(hash as string)),
    clear: () => compare.mockClear(),
  }
}

/** The bcrypt work of compares at these costs, in units of one key expansion round. */
const work = (costs: number[]) => costs.reduce((sum, cost) => sum + 2 ** cost, 0)

/** A highest stored cost that answers `value`, counting its reads. */
function storedCosts(value: number | null | (() => Promise<number | null>)) {
  const source = {
    reads: 0,
    highestStoredCost: async () => {
      source.reads++
      return typeof value === 'function' ? value() : value
    },
  }
  return source satisfies PasswordCostRepository
}

describe('password hasher', () => {
  const hasher = createPasswordHasher({ cost: 10 })

  it('verifies a hash it made, and only for the same password', async () => {
    const hash = await hasher.hash('correct horse')
    expect(bcrypt.getRounds(hash)).toBe(10)
    expect(await hasher.verify('correct horse', hash)).toEqual({ ok: true, needsRehash: false })
    expect(await hasher.verify('correct horsE', hash)).toEqual({ ok: false, needsRehash: false })
  })

  it('never accepts a password longer than 72 bytes, even when its first 72 bytes match', async () => {
    const hash = await hasher.hash('a'.repeat(72))
    expect(await hasher.verify('a'.repeat(72), hash)).toEqual({ ok: true, needsRehash: false })
    expect(await hasher.verify(`${'a'.repeat(72)}b`, hash)).toEqual({ ok: false, needsRehash: false })
  })

  it('says nothing matches when there is no stored hash (the unknown-email path)', async () => {
    expect(await hasher.verify('anything', null)).toEqual({ ok: false, needsRehash: false })
  })

  it('asks for a rehash when the stored hash has another cost, lower or higher, and only on a match', async () => {
    const at5 = createPasswordHasher({ cost: 5 })
    for (const stored of [4, 6]) {
      const hash = await bcrypt.hash('correct horse', stored)
      expect(await at5.verify('correct horse', hash)).toEqual({ ok: true, needsRehash: true })
      expect(await at5.verify('wrong horse', hash)).toEqual({ ok: false, needsRehash: false })
    }
    const same = await bcrypt.hash('correct horse', 5)
    expect(await at5.verify('correct horse', same)).toEqual({ ok: true, needsRehash: false })
  })

  it('treats a malformed stored hash as a wrong password, not an error', async () => {
    expect(await hasher.verify('anything', 'not-a-bcrypt-hash')).toEqual({ ok: false, needsRehash: false })
  })

  it('builds for every cost the configuration accepts and every cost it has a dummy for, and refuses any other', () => {
    const { min, max } = INTEGER_SETTINGS.BCRYPT_COST
    expect(min).toBeGreaterThanOrEqual(DUMMY_COSTS.min)
    expect(max).toBeLessThanOrEqual(DUMMY_COSTS.max)
    for (let cost = DUMMY_COSTS.min; cost <= DUMMY_COSTS.max; cost++)
      expect(() => createPasswordHasher({ cost })).not.toThrow()
    expect(() => createPasswordHasher({ cost: DUMMY_COSTS.min - 1 })).toThrow(RangeError)
    expect(() => createPasswordHasher({ cost: DUMMY_COSTS.max + 1 })).toThrow(RangeError)
  })
})

describe('the dummy hashes', () => {
  it('are, for every cost from bcrypt’s least to the highest setting, a full bcrypt hash of the cost they claim', async () => {
    const salts = new Set<string>()
    for (let cost = DUMMY_COSTS.min; cost <= DUMMY_COSTS.max; cost++) {
      const dummy = dummyHash(cost) ?? ''
      expect(costOf(dummy), `cost ${cost}`).toBe(cost)
      expect(bcrypt.getRounds(dummy)).toBe(cost)
      // What a compare does: hash the candidate with the dummy's salt and cost. It runs (a valid salt), makes a full
      // 60-character hash of that cost, and no candidate tried is the dummy's discarded password.
      const salt = dummy.slice(0, 29)
      const candidate = await bcrypt.hash('a candidate', salt)
      expect(candidate).toHaveLength(60)
      expect(candidate.slice(0, 29)).toBe(salt)
      expect(candidate).not.toBe(dummy)
      salts.add(salt)
    }
    expect(salts.size).toBe(DUMMY_COSTS.max - DUMMY_COSTS.min + 1)
  })
})

describe('costOf: the hashes bcryptjs compares in full', () => {
  const tail = 'a'.repeat(53)
  it.each([
    [`$2b$12$${tail}`, 12],
    [`$2a$04$${tail}`, 4],
    [`$2y$31$${tail}`, 31],
    [`$2x$12$${tail}`, null],
    [`$2$12$${tail}`, null],
    [`$2b$03$${tail}`, null],
    [`$2b$32$${tail}`, null],
    [`$2b$12$${tail}a`, null],
    [`$2b$12$${tail.slice(1)}!`, null],
    ['not-a-bcrypt-hash', null],
  ])('%s → %s', (hash, cost) => {
    expect(costOf(hash)).toBe(cost)
  })
})

describe('every check costs the same bcrypt work: one compare at the target cost', () => {
  it('an unknown email compares once against the dummy of the target: the setting, or a higher stored cost', async () => {
    const compares = recordedCompares()
    await createPasswordHasher({ cost: 4 }).verify('p', null)
    expect(compares.costs()).toEqual([4])
    compares.clear()
    await createPasswordHasher({ cost: 4, storedCosts: storedCosts(null) }).verify('p', null)
    expect(compares.costs()).toEqual([4])
    compares.clear()
    await createPasswordHasher({ cost: 5, storedCosts: storedCosts(4) }).verify('p', null)
    expect(compares.costs()).toEqual([5])
    compares.clear()
    await createPasswordHasher({ cost: 4, storedCosts: storedCosts(7) }).verify('p', null)
    expect(compares.costs()).toEqual([7])
  })

  it('a cheaper stored hash pays the difference in dummy compares, right or wrong: 2^c + 2^c + … + 2^(T−1) = 2^T', async () => {
    const hasher = createPasswordHasher({ cost: 5, storedCosts: storedCosts(7) })
    const compares = recordedCompares()
    await hasher.verify('p', null)
    const unknown = compares.costs()
    expect(unknown).toEqual([7])
    for (const stored of [4, 5, 6, 7]) {
      const hash = await bcrypt.hash('right', stored)
      for (const password of ['right', 'wrong', 'x'.repeat(100)]) {
        compares.clear()
        const check = await hasher.verify(password, hash)
        expect(check.ok).toBe(password === 'right')
        expect(compares.costs()[0], `the stored hash first (${stored})`).toBe(stored)
        expect(work(compares.costs()), `stored at ${stored}, ${password}`).toBe(work(unknown))
      }
    }
  })

  it('a stored string bcrypt would not compare pays the dummy of the target, and is wrong', async () => {
    const hasher = createPasswordHasher({ cost: 4, storedCosts: storedCosts(6) })
    const compares = recordedCompares()
    for (const stored of ['not a hash', `$2x$05$${'a'.repeat(53)}`, '']) {
      compares.clear()
      expect(await hasher.verify('p', stored)).toEqual({ ok: false, needsRehash: false })
      expect(compares.costs()).toEqual([6])
    }
  })

  it('a stored hash above the target raises it at once, for every later check', async () => {
    const hasher = createPasswordHasher({ cost: 4, storedCosts: storedCosts(4) })
    const costly = await bcrypt.hash('right', 6)
    const compares = recordedCompares()
    await hasher.verify('p', null)
    await hasher.verify('wrong', costly)
    await hasher.verify('p', null)
    expect(compares.costs()).toEqual([4, 6, 6])
  })

  it('never makes a check cost more than a compare at the highest dummy’s cost', async () => {
    const compare = vi.spyOn(bcrypt, 'compare').mockResolvedValue(false as never)
    await createPasswordHasher({ cost: 10, storedCosts: storedCosts(20) }).verify('p', null)
    expect(compare.mock.calls.map(([, hash]) => bcrypt.getRounds(hash as string))).toEqual([DUMMY_COSTS.max])
  })
})

describe('the highest stored cost, cached by the hasher', () => {
  it(`is read at the first check, then once per ${STORED_COST_TTL_MS / 60_000} minutes, one read at a time`, async () => {
    let now = 0
    const source = storedCosts(4)
    const hasher = createPasswordHasher({ cost: 4, storedCosts: source, now: () => now })
    expect(source.reads).toBe(0)
    await Promise.all([hasher.verify('p', null), hasher.verify('p', null), hasher.verify('p', null)])
    expect(source.reads).toBe(1)
    now += STORED_COST_TTL_MS - 1
    await hasher.verify('p', null)
    expect(source.reads).toBe(1)
    now += 1
    await Promise.all([hasher.verify('p', null), hasher.verify('p', null)])
    expect(source.reads).toBe(2)
  })

  it('follows the stored costs, down as well as up: the check that finds it old reads it for the next ones', async () => {
    let now = 0
    let highest = 6
    const hasher = createPasswordHasher({
      cost: 4,
      storedCosts: storedCosts(async () => highest),
      now: () => now,
    })
    const compares = recordedCompares()
    await hasher.verify('p', null)
    highest = 5
    now += STORED_COST_TTL_MS
    await hasher.verify('p', null)
    await hasher.verify('p', null)
    highest = 7
    now += STORED_COST_TTL_MS
    await hasher.verify('p', null)
    await hasher.verify('p', null)
    expect(compares.costs()).toEqual([6, 6, 5, 5, 7])
  })

  it('keeps the last value when a read fails, and fails the check when it has none', async () => {
    let now = 0
    let failing = true
    const source = storedCosts(async () => {
      if (failing) throw new Error('database unavailable')
      return 6
    })
    const hasher = createPasswordHasher({ cost: 4, storedCosts: source, now: () => now })
    await expect(hasher.verify('p', null)).rejects.toThrow('database unavailable')
    failing = false
    const compares = recordedCompares()
    await hasher.verify('p', null)
    failing = true
    now += STORED_COST_TTL_MS
    await hasher.verify('p', null)
    await hasher.verify('p', null)
    expect(compares.costs()).toEqual([6, 6, 6])
    expect(source.reads).toBe(4)
  })
})
