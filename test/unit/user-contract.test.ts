/**
 * The user is declared once: the `users` table's columns and the contract's User object must agree, so a column
 * added to the table either reaches the response (schema and mapping) or is named private on purpose.
 */
import { getTableColumns } from 'drizzle-orm'
import * as v from 'valibot'
import { describe, expect, it } from 'vitest'
import { users } from '#db/schema'
import { PRIVATE_USER_FIELDS, toPublicUser, UserSchema } from '#shared/domain/contract'
import { userRecord } from '#test/helpers/records'

const columns = Object.entries(getTableColumns(users))
const privateFields: readonly string[] = PRIVATE_USER_FIELDS

describe('the User object and the users table', () => {
  it('shows every column of the table under its column name, except the ones named private', () => {
    const shown = columns.filter(([field]) => !privateFields.includes(field)).map(([, column]) => column.name)
    expect(
      Object.keys(UserSchema.entries).sort(),
      'each users column is shown (UserSchema and toPublicUser in shared/domain/contract.ts) or in PRIVATE_USER_FIELDS',
    ).toEqual(shown.sort())
  })

  it('names as private only columns that exist, and never shows them', () => {
    const fields = columns.map(([field]) => field)
    expect(fields).toEqual(expect.arrayContaining([...privateFields]))
    const names = columns.filter(([field]) => privateFields.includes(field)).map(([, column]) => column.name)
    for (const name of names) expect(Object.keys(UserSchema.entries)).not.toContain(name)
  })

  it('maps a stored user to exactly the schema’s fields, valid against it', () => {
    const record = userRecord({
      id: 7,
      email: 'ada@example.com',
      username: 'ada',
      hashedPassword: '$2b$12$secret',
      createdAt: new Date('2025-01-01T12:00:00Z'),
      updatedAt: new Date('2025-01-02T12:00:00Z'),
      passwordCarriedOver: true,
    })
    const shown = toPublicUser(record)
    expect(v.parse(v.strictObject(UserSchema.entries), shown)).toEqual(shown)
    expect(JSON.stringify(shown)).not.toContain('secret')
  })
})
