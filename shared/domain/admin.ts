import { ConflictingAdminError } from './errors.ts'
import type { PasswordHasher } from './passwords.ts'
import type { UserRepository } from './ports.ts'
import type { RequestContext } from './users.ts'

/** How the audit trail records the seeding: no request, an operator's invocation. */
const SEED_CONTEXT: RequestContext = { sourceIp: '', userAgent: 'seed-admin' }

export type SeedOutcome = 'created' | 'exists'

/**
 * Creates the superuser unless its email exists. An existing superuser is left exactly as it is; an existing
 * account that is not one (someone registered the admin's address first) is refused, never promoted or ignored.
 */
export function createAdminSeeder(deps: {
  users: Pick<UserRepository, 'insertSuperuser'>
  passwords: PasswordHasher
}) {
  return async ({ email, password }: { email: string; password: string }): Promise<SeedOutcome> => {
    const hashedPassword = await deps.passwords.hash(password)
    const { user, created } = await deps.users.insertSuperuser(
      { email, username: null, hashedPassword, isSuperuser: true },
      SEED_CONTEXT,
    )
    if (created) return 'created'
    if (!user.isSuperuser) throw new ConflictingAdminError()
    return 'exists'
  }
}
