import { randomUUID } from 'node:crypto'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createDatabase, type DatabaseHandle } from '#db/client'
import { sqlState, violatedConstraint } from '#db/errors'
import { runMigrations } from '#db/migrate'
import { createUserRepository } from '#db/repositories/users'
import { migrationLimits } from '#shared/app/operations'
import { EmailTakenError, UsernameTakenError } from '#shared/domain/errors'
import { loadSettings } from '#shared/platform/config'
import { superuserOn, testDatabase } from '#test/helpers/database'

/** A database of its own: these tests move its id sequence, which would break other tests' registrations. */
let database: DatabaseHandle
beforeAll(async () => {
  const name = `conflicts_${process.pid}_${Date.now().toString(36)}`
  const admin = testDatabase()
  await admin.db.execute(sql.raw(`create database "${name}"`))
  await admin.close()
  const url = superuserOn(name)
  await runMigrations({ url, wsProxy: inject('wsProxy'), limits: migrationLimits(loadSettings()) })
  database = createDatabase({ url, wsProxy: inject('wsProxy'), connectTimeoutMs: 3000, poolMax: 2 })
})
afterAll(() => database?.close())

const CONTEXT = { sourceIp: '192.0.2.200', userAgent: 'vitest' }
// Each hash unique, as bcrypt's salted ones are (the same email and hash would be a retry of one registration).
const newUser = (email: string, username: string | null = null) => ({
  email,
  username,
  hashedPassword: `hash-${randomUUID()}`,
})

describe('registration names its conflicts', () => {
  it('answers a taken email and a taken username (any case) as such', async () => {
    const users = createUserRepository(database.db)
    await users.register(newUser('first@example.com', 'First'), CONTEXT)
    await expect(users.register(newUser('first@example.com'), CONTEXT)).rejects.toBeInstanceOf(
      EmailTakenError,
    )
    await expect(users.register(newUser('second@example.com', 'FIRST'), CONTEXT)).rejects.toBeInstanceOf(
      UsernameTakenError,
    )
  })

  it('fails, and never answers "taken", when the id sequence is behind the rows (rows copied in without it)', async () => {
    const users = createUserRepository(database.db)
    // A row whose id the sequence will hand out next, as after a copy that did not move the sequence.
    await database.db.execute(sql`insert into users (id, email, hashed_password)
      select nextval('users_id_seq') + 1, 'copied@example.com', 'h'`)
    const error = await users
      .register(newUser('fresh@example.com'), CONTEXT)
      .catch((caught: unknown) => caught)
    expect(error).not.toBeInstanceOf(EmailTakenError)
    expect(error).not.toBeInstanceOf(UsernameTakenError)
    expect([sqlState(error), violatedConstraint(error)]).toEqual(['23505', 'users_pkey'])
    // Nothing was stored by the failed statement, and the next id is free again.
    expect((await users.register(newUser('fresh@example.com'), CONTEXT)).email).toBe('fresh@example.com')
  })
})
