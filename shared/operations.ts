import * as v from 'valibot'
import { createDatabase } from '#db/client'
import { type MigrationResult, runMigrations } from '#db/migrate'
import { createUserRepository } from '#db/repositories/users'
import { loadConfig } from './config.ts'
import { resolveAdminPassword, resolveDatabaseUrl, secretReaderFor } from './container.ts'
import { createPasswordHasher, type PasswordHasher } from './passwords.ts'
import { EmailSchema, NewPasswordSchema } from './schemas.ts'
import type { NewUser, RequestContext, UserRecord } from './users.ts'

/** How the audit trail records the seeding: no request, an operator's invocation. */
const SEED_CONTEXT: RequestContext = { sourceIp: '', userAgent: 'seed-admin' }

export type SeedOutcome = 'created' | 'exists'

/** Creates the superuser unless its email exists; an existing account is left exactly as it is. */
export function createAdminSeeder(deps: {
  users: { insertUnlessEmailExists(user: NewUser, context: RequestContext): Promise<UserRecord | null> }
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

/** The migrate function's work: reads only the database secret (its direct URL) and applies the migrations. */
export async function migrateFromEnvironment(): Promise<MigrationResult> {
  const config = loadConfig(process.env, ['database'])
  const url = await resolveDatabaseUrl(config, await secretReaderFor(config))
  return runMigrations({ url, wsProxy: config.DATABASE_WS_PROXY })
}

/** The seed-admin function's work: reads the database secret and the admin password, never the JWT secret. */
export async function seedAdminFromEnvironment(): Promise<{ outcome: SeedOutcome; email: string }> {
  const config = loadConfig(process.env, ['database', 'admin'])
  const secrets = await secretReaderFor(config)
  const [url, password] = await Promise.all([
    resolveDatabaseUrl(config, secrets),
    resolveAdminPassword(config, secrets),
  ])
  const email = v.parse(EmailSchema, config.ADMIN_EMAIL)
  if (!v.is(NewPasswordSchema, password)) throw new Error('the admin password must be 8 to 72 bytes')

  const database = createDatabase({
    url,
    wsProxy: config.DATABASE_WS_PROXY,
    connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS,
    queryTimeoutMs: config.DATABASE_QUERY_TIMEOUT_MS,
    poolMax: 1,
  })
  try {
    const seed = createAdminSeeder({
      users: createUserRepository(database.db),
      passwords: createPasswordHasher({ cost: config.BCRYPT_COST }),
    })
    return { outcome: await seed({ email, password }), email }
  } finally {
    await database.close()
  }
}
