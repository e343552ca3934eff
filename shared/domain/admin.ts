import type { PasswordHasher } from './passwords.ts'
import type { UserRepository } from './ports.ts'
import type { RequestContext } from './users.ts'

/** How the audit trail records the seeding: no request, an operator's invocation. */
const SEED_CONTEXT: RequestContext = { sourceIp: '', userAgent: 'seed-admin' }

export type SeedOutcome = 'created' | 'exists'

/** Creates the superuser unless its email exists; an existing account is left exactly as it is. */
export function createAdminSeeder(deps: {
  users: Pick<UserRepository, 'insertUnlessEmailExists'>
  passwords: PasswordHasher
}) {
  return async ({ email, password }: { email: string; password: string }): Promise<SeedOutcome> => {
    const hashedPassword = await deps.passwords.hash(password)
    const created = await deps.users.insertUnlessEmailExists(
      { email, username: null, hashedPassword, isSuperuser: true },
      SEED_CONTEXT,
    )
    return created ? 'created' : 'exists'
  }
}
