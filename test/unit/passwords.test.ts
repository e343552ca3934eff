import bcrypt from 'bcryptjs'
import { describe, expect, it } from 'vitest'
import { createPasswordHasher } from '#shared/domain/passwords'
import { INTEGER_SETTINGS } from '#shared/platform/config'

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

  it('asks for a rehash when the stored hash is weaker than the current cost, and only then', async () => {
    const weak = await bcrypt.hash('correct horse', 4)
    expect(await hasher.verify('correct horse', weak)).toEqual({ ok: true, needsRehash: true })
    expect(await hasher.verify('wrong horse', weak)).toEqual({ ok: false, needsRehash: false })
  })

  it('treats a malformed stored hash as a wrong password, not an error', async () => {
    expect(await hasher.verify('anything', 'not-a-bcrypt-hash')).toEqual({ ok: false, needsRehash: false })
  })

  it('has a dummy hash for every cost the configuration accepts, and refuses any other', () => {
    const { min, max } = INTEGER_SETTINGS.BCRYPT_COST
    for (let cost = min; cost <= max; cost++) expect(() => createPasswordHasher({ cost })).not.toThrow()
    expect(() => createPasswordHasher({ cost: min - 1 })).toThrow(RangeError)
    expect(() => createPasswordHasher({ cost: max + 1 })).toThrow(RangeError)
  })
})
