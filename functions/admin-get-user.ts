import { apiContainer, type Container } from '#shared/app/container'
import { adminActions } from '#shared/app/features'
import { UserIdPathSchema } from '#shared/domain/admin-schemas'
import type { SessionPrincipal } from '#shared/domain/principal'
import { httpHandler, ok, type ParsedEvent } from '#shared/http/handler'
import { parseInput } from '#shared/http/validation'
import { callersOf } from './routes.ts'

const getUser = async ({ pathParameters }: ParsedEvent<undefined, SessionPrincipal>, { admin }: Container) =>
  ok(await admin.getUser(parseInput(UserIdPathSchema, pathParameters, 'path').id))

export const handler = httpHandler(getUser, {
  callers: callersOf('admin-get-user'),
  dependencies: apiContainer({ features: { admin: adminActions } }),
})
