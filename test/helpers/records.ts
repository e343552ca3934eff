import { getTableColumns } from 'drizzle-orm'
import { users } from '#db/schema'
import type { UserRecord } from '#shared/domain/users'

/** Every nullable column of `users` as null, as a fresh insert leaves it: a new nullable column needs no test edit. */
const NULLABLE_USER_FIELDS = Object.fromEntries(
  Object.entries(getTableColumns(users))
    .filter(([, column]) => !column.notNull)
    .map(([field]) => [field, null]),
) as Partial<UserRecord>

/** A stored user for tests and fakes: the table's defaults (active, no superuser, nothing carried over) and `fields`. */
export function userRecord(
  fields: Partial<UserRecord> & Pick<UserRecord, 'id' | 'email' | 'hashedPassword'>,
): UserRecord {
  const at = fields.createdAt ?? new Date()
  return {
    ...(NULLABLE_USER_FIELDS as UserRecord),
    isActive: true,
    isSuperuser: false,
    createdAt: at,
    updatedAt: at,
    passwordCarriedOver: false,
    credentialVersion: 0,
    linksRevokedAt: null,
    emailVerified: false,
    ...fields,
  }
}
