import * as v from 'valibot'
import { EMAIL_MAX_LENGTH } from './schemas.ts'

/** The largest `serial` id PostgreSQL makes. */
const MAX_USER_ID = 2_147_483_647
export const ADMIN_PAGE_DEFAULT = 50
export const ADMIN_PAGE_MAX = 200

/** A user id in a path: a positive whole number, written plainly (`7`, not `07`, `7.0` or `+7`). */
export const UserIdSchema = v.pipe(
  v.string('Input should be a valid integer'),
  v.regex(/^[1-9][0-9]{0,9}$/, 'Input should be a valid integer'),
  v.transform(Number),
  v.maxValue(MAX_USER_ID, `Input should be less than or equal to ${MAX_USER_ID}`),
)

export const UserIdPathSchema = v.object({ id: UserIdSchema })

/** `true` or `false` in a query string. */
const QueryFlag = v.pipe(
  v.picklist(['true', 'false'], 'Input should be a valid boolean: true or false'),
  v.transform((value) => value === 'true'),
)

export const AdminUserListQuerySchema = v.object({
  limit: v.optional(
    v.pipe(
      v.string('Input should be a valid integer'),
      v.regex(/^[0-9]{1,4}$/, 'Input should be a valid integer'),
      v.transform(Number),
      v.minValue(1, 'Input should be greater than or equal to 1'),
      v.maxValue(ADMIN_PAGE_MAX, `Input should be less than or equal to ${ADMIN_PAGE_MAX}`),
    ),
    String(ADMIN_PAGE_DEFAULT),
  ),
  /** The `next_cursor` of the previous page, as given. */
  cursor: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/, 'Invalid cursor'))),
  /** The start of an email or a username, matched without regard to case. */
  q: v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.toLowerCase(),
      v.minLength(1, 'String should have at least 1 character'),
      v.maxLength(EMAIL_MAX_LENGTH, `String should have at most ${EMAIL_MAX_LENGTH} characters`),
    ),
  ),
  is_active: v.optional(QueryFlag),
  is_superuser: v.optional(QueryFlag),
})
export type AdminUserListQuery = v.InferOutput<typeof AdminUserListQuerySchema>

export const AdminUserPatchSchema = v.pipe(
  v.strictObject(
    {
      is_active: v.optional(v.boolean('Input should be a valid boolean')),
      is_superuser: v.optional(v.boolean('Input should be a valid boolean')),
    },
    'Only is_active and is_superuser may be changed',
  ),
  v.check(
    (body) => body.is_active !== undefined || body.is_superuser !== undefined,
    'Give is_active, is_superuser or both',
  ),
)
export type AdminUserPatch = v.InferOutput<typeof AdminUserPatchSchema>
