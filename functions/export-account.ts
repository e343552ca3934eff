import { apiContainer, type Container } from '#shared/app/container'
import { accountExport } from '#shared/app/features'
import type { SessionPrincipal } from '#shared/domain/principal'
import { httpHandler, ok, type ParsedEvent } from '#shared/http/handler'
import { callersOf } from './routes.ts'

const exportAccount = async (
  { principal }: ParsedEvent<undefined, SessionPrincipal>,
  { exports }: Container,
) => {
  const { body, fileName } = await exports.exportAccount(principal)
  // A download, never kept by a cache on the way: it is the account's personal data.
  return ok(body, {
    'content-disposition': `attachment; filename="${fileName}"`,
    'cache-control': 'no-store',
  })
}

export const handler = httpHandler(exportAccount, {
  callers: callersOf('export-account'),
  dependencies: apiContainer({ features: { exports: accountExport } }),
})
