import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as v from 'valibot'
import { describe, expect, it } from 'vitest'
import { ValidationError } from '#shared/domain/errors'
import {
  bloomFilterFalsePositiveRate,
  bloomFilterHas,
  createBloomFilter,
  parseBloomFilter,
  serializeBloomFilter,
} from '#shared/domain/password-blocklist/bloom-filter'
import {
  blocklistKeys,
  buildBlocklistFilter,
  readBlocklistSource,
} from '#shared/domain/password-blocklist/build'
import {
  BLOCKLIST_FALSE_POSITIVE_RATE,
  BLOCKLIST_FILTER_FILE,
  BLOCKLISTED_PASSWORD_MESSAGE,
  isBlocklisted,
} from '#shared/domain/password-blocklist/password-blocklist'
import {
  ChangePasswordBodySchema,
  LoginBodySchema,
  NewPasswordSchema,
  PasswordResetConfirmBodySchema,
  RegisterBodySchema,
} from '#shared/domain/schemas'
import { validate } from '#shared/http/validation'

const FOLDER = join(import.meta.dirname, '../../shared/domain/password-blocklist')
const committedFilter = () => readFileSync(join(FOLDER, BLOCKLIST_FILTER_FILE))
const list = readBlocklistSource()
const keys = blocklistKeys(list)

/** Strong passwords no list holds: 16 characters of base64url from SHA-256 in counter mode, the same every run. */
const strongPasswords = (count: number, seed: string) =>
  Array.from({ length: count }, (_, index) =>
    createHash('sha256').update(`${seed}:${index}`).digest('base64url').slice(0, 16),
  )

/** The 422's issues the validation middleware throws for a body, or [] when it passes. */
function issuesOf(schema: v.GenericSchema, body: unknown) {
  const event = { body }
  try {
    validate(schema, 'body').before?.({ event } as never)
    return []
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError)
    return (error as ValidationError).issues
  }
}

const LISTED = ['password123', 'Password123', 'qwertyuiop', 'iloveyou1', 'PASSWORD123', 'QwErTyUiOp']

describe('the committed list', () => {
  it('is the 100,000 most common passwords of the xato.net list, whole: distinct, none empty, most common first', () => {
    expect(list).toHaveLength(100_000)
    expect(new Set(list).size).toBe(100_000)
    expect(list.slice(0, 4)).toEqual(['123456', 'password', '12345678', 'qwerty'])
    expect(list).toEqual(expect.arrayContaining(['password123', 'Password123', 'qwertyuiop', 'iloveyou1']))
  })

  it('gives the filter the entries the length rule lets through, lower-cased and distinct', () => {
    // 'password123' and 'Password123' are one key; '123456' is refused for its length before the blocklist is asked.
    expect(keys).toHaveLength(38_452)
    expect(keys).toContain('password123')
    expect(keys).not.toContain('Password123')
    expect(keys).not.toContain('123456')
    expect(keys.every((key) => Buffer.byteLength(key) >= 8 && Buffer.byteLength(key) <= 72)).toBe(true)
  })
})

describe('the committed Bloom filter', () => {
  it('is what `npm run blocklist` builds from the committed list, byte for byte', () => {
    expect(buildBlocklistFilter(list).equals(committedFilter())).toBe(true)
  })

  it('finds every listed password the length rule lets through, in any case', () => {
    const missed = list
      .filter((entry) => Buffer.byteLength(entry) >= 8)
      .filter(
        (entry) =>
          !isBlocklisted(entry) || (/^[\x20-\x7e]*$/.test(entry) && !isBlocklisted(entry.toUpperCase())),
      )
    expect(missed).toEqual([])
  })

  it(`refuses at most 1 in 10,000 strong passwords by mistake (designed for 1 in ${Math.round(1 / BLOCKLIST_FALSE_POSITIVE_RATE)})`, () => {
    const filter = parseBloomFilter(committedFilter())
    expect(filter.entries).toBe(keys.length)
    expect(bloomFilterFalsePositiveRate(filter)).toBeLessThanOrEqual(BLOCKLIST_FALSE_POSITIVE_RATE * 1.1)
    const tried = strongPasswords(200_000, 'blocklist false positives')
    const refused = tried.filter((password) => isBlocklisted(password))
    expect(refused.length).toBeLessThanOrEqual(tried.length / 10_000)
  })
})

describe('a Bloom filter', () => {
  it('holds what it was built from, and reads back from its bytes as it was', () => {
    const words = strongPasswords(1000, 'held')
    const filter = createBloomFilter(words, 1e-3)
    const read = parseBloomFilter(serializeBloomFilter(filter))
    expect([read.bits, read.hashes, read.entries]).toEqual([filter.bits, filter.hashes, 1000])
    expect(Buffer.from(read.array).equals(Buffer.from(filter.array))).toBe(true)
    expect(words.every((word) => bloomFilterHas(read, word))).toBe(true)
    expect(
      strongPasswords(1000, 'not held').filter((word) => bloomFilterHas(read, word)).length,
    ).toBeLessThan(10)
  })

  it('refuses bytes that are not one', () => {
    expect(() => parseBloomFilter(Buffer.from('123456\npassword\n'))).toThrow('not a Bloom filter')
    expect(() => parseBloomFilter(committedFilter().subarray(0, 1000))).toThrow('wrong length')
  })
})

describe('a new password', () => {
  it.each(LISTED)('refuses %s with a 422 that says why', (password) => {
    expect(v.is(NewPasswordSchema, password)).toBe(false)
    expect(issuesOf(RegisterBodySchema, { email: 'a@example.com', password })).toEqual([
      { loc: ['body', 'password'], msg: BLOCKLISTED_PASSWORD_MESSAGE, type: 'value_error' },
    ])
    for (const schema of [ChangePasswordBodySchema, PasswordResetConfirmBodySchema]) {
      expect(issuesOf(schema, { current_password: 'x', token: 'x', new_password: password })).toEqual([
        { loc: ['body', 'new_password'], msg: BLOCKLISTED_PASSWORD_MESSAGE, type: 'value_error' },
      ])
    }
  })

  it('accepts a strong password, and tells the length first for a short listed one', () => {
    for (const password of strongPasswords(20, 'accepted'))
      expect(v.is(NewPasswordSchema, password)).toBe(true)
    expect(issuesOf(RegisterBodySchema, { email: 'a@example.com', password: 'qwerty' })).toEqual([
      { loc: ['body', 'password'], msg: 'String should have at least 8 bytes', type: 'value_error' },
    ])
  })

  it('is refused alongside the other fields’ problems, each reported', () => {
    expect(
      issuesOf(RegisterBodySchema, { email: 'not an email', password: 'iloveyou1', username: 'x' }),
    ).toEqual([
      { loc: ['body', 'email'], msg: 'value is not a valid email address', type: 'value_error' },
      { loc: ['body', 'password'], msg: BLOCKLISTED_PASSWORD_MESSAGE, type: 'value_error' },
      {
        loc: ['body', 'username'],
        msg: 'String should be 3 to 50 characters of A-Z a-z 0-9 _ . -',
        type: 'value_error',
      },
    ])
  })

  it('is the only password the blocklist is asked about: a login takes any password', () => {
    expect(issuesOf(LoginBodySchema, { email: 'a@example.com', password: 'password123' })).toEqual([])
  })
})
