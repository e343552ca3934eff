import { createDatabase, type DatabaseHandle } from '#db/client'
import type { LocalStack } from '#infra/local/local-stack'
import { LOCAL_DATABASE } from '#infra/local/roles'

/**
 * The cluster's superuser on the service's database of a local stack, through its proxy: for a test to look at rows
 * the API's role may not read, and to arrange what a request cannot (an aged session, an expired link).
 */
export function stackDatabase(stack: LocalStack): DatabaseHandle {
  const superuser = new URL(stack.superuserUrl)
  superuser.pathname = `/${LOCAL_DATABASE}`
  return createDatabase({
    url: superuser.toString(),
    wsProxy: stack.wsProxy,
    connectTimeoutMs: 3000,
    poolMax: 2,
  })
}
