import { apiContainer, type Container } from '#shared/app/container'
import { adminActions } from '#shared/app/features'
import { UserIdPathSchema } from '#shared/domain/admin-schemas'
import type { SessionPrincipal } from '#shared/domain/principal'
import { httpHandler, noContent, type ParsedEvent } from '#shared/http/handler'
import { parseInput } from '#shared/http/validation'
import { callersOf } from './routes.ts'

const endSessions = async (
  { principal, pathParameters, context }: ParsedEvent<undefined, SessionPrincipal>,
  { admin }: Container,
) => {
  await admin.endSessions(principal, parseInput(UserIdPathSchema, pathParameters, 'path').id, context)
  return noContent()
}

export const handler = httpHandler(endSessions, {
  callers: callersOf('admin-end-sessions'),
  dependencies: apiContainer({ features: { admin: adminActions } }),
})
