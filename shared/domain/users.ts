/** The stored shape of a user that the domain needs; `db/schema.ts` rows satisfy it. */
export interface UserRecord {
  id: number
  email: string
  username: string | null
  hashedPassword: string
  isActive: boolean
  isSuperuser: boolean
  createdAt: Date
  updatedAt: Date
  /** The hash came from the FastAPI backend, whose bcrypt read only a password's first 72 bytes. */
  passwordCarriedOver: boolean
}

export interface NewUser {
  email: string
  username: string | null
  hashedPassword: string
  isSuperuser?: boolean
}

/** Where a request came from, for the audit trail and rate limits: API Gateway's view, never `X-Forwarded-For`. */
export interface RequestContext {
  sourceIp: string
  userAgent: string
}

/** The User object of the API contract: never a password or a hash, under any name. */
export interface PublicUser {
  id: number
  email: string
  username: string | null
  is_active: boolean
  is_superuser: boolean
  created_at: string
  updated_at: string
}

/** ISO 8601 with an explicit offset (`+00:00`), as the old backend's timezone-aware datetimes were written. */
export const isoWithOffset = (date: Date) => date.toISOString().replace('Z', '+00:00')

export const toPublicUser = (user: UserRecord): PublicUser => ({
  id: user.id,
  email: user.email,
  username: user.username,
  is_active: user.isActive,
  is_superuser: user.isSuperuser,
  created_at: isoWithOffset(user.createdAt),
  updated_at: isoWithOffset(user.updatedAt),
})
