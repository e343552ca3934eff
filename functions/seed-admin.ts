import { seedAdminFromEnvironment } from '#shared/app/operations'
import { logger } from '#shared/platform/logger'

/**
 * Creates the superuser from ADMIN_EMAIL and the admin password (inline locally, Secrets Manager in AWS), or
 * leaves an existing account untouched. Says which; never logs the password.
 */
export const handler = async () => {
  const { outcome, email } = await seedAdminFromEnvironment()
  const message = outcome === 'created' ? 'admin created' : 'admin already exists; left unchanged'
  logger.info(message, { email, outcome })
  return { outcome, email, message }
}
