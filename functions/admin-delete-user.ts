import { apiContainer, type Container } from '#shared/app/container'
import { adminActions } from '#shared/app/features'
import { mailQueue } from '#shared/app/mail-queue'
import { UserIdPathSchema } from '#shared/domain/admin-schemas'
import type { SessionPrincipal } from '#shared/domain/principal'
import { httpHandler, noContent, type ParsedEvent } from '#shared/http/handler'
import { parseInput } from '#shared/http/validation'
import { callersOf } from './routes.ts'

const deleteUser = async (
  { principal, pathParameters, context }: ParsedEvent<undefined, SessionPrincipal>,
  { admin }: Container,
) => {
  await admin.deleteUser(principal, parseInput(UserIdPathSchema, pathParameters, 'path').id, context)
  return noContent()
}

export const handler = httpHandler(deleteUser, {
  callers: callersOf('admin-delete-user'),
  dependencies: apiContainer({ mail: mailQueue, features: { admin: adminActions } }),
})
