import { apiContainer, type Container } from '#shared/app/container'
import { adminActions } from '#shared/app/features'
import { AdminUserListQuerySchema } from '#shared/domain/admin-schemas'
import type { SessionPrincipal } from '#shared/domain/principal'
import { httpHandler, ok, type ParsedEvent } from '#shared/http/handler'
import { parseInput } from '#shared/http/validation'
import { callersOf } from './routes.ts'

const listUsers = async (
  { queryStringParameters }: ParsedEvent<undefined, SessionPrincipal>,
  { admin }: Container,
) => ok(await admin.listUsers(parseInput(AdminUserListQuerySchema, queryStringParameters, 'query')))

export const handler = httpHandler(listUsers, {
  callers: callersOf('admin-list-users'),
  dependencies: apiContainer({ features: { admin: adminActions } }),
})
