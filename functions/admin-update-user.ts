import { apiContainer, type Container } from '#shared/app/container'
import { adminActions } from '#shared/app/features'
import { type AdminUserPatch, AdminUserPatchSchema, UserIdPathSchema } from '#shared/domain/admin-schemas'
import type { SessionPrincipal } from '#shared/domain/principal'
import { httpHandler, ok, type ParsedEvent } from '#shared/http/handler'
import { parseInput } from '#shared/http/validation'
import { callersOf } from './routes.ts'

const updateUser = async (
  { principal, pathParameters, body, context }: ParsedEvent<AdminUserPatch, SessionPrincipal>,
  { admin }: Container,
) =>
  ok(
    await admin.updateUser(principal, parseInput(UserIdPathSchema, pathParameters, 'path').id, body, context),
  )

export const handler = httpHandler(updateUser, {
  callers: callersOf('admin-update-user'),
  body: AdminUserPatchSchema,
  dependencies: apiContainer({ features: { admin: adminActions } }),
})
