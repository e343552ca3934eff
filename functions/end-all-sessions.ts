import { apiContainer, type Container } from '#shared/app/container'
import type { SessionPrincipal } from '#shared/domain/principal'
import { httpHandler, noContent, type ParsedEvent } from '#shared/http/handler'
import { callersOf } from './routes.ts'

const endAllSessions = async (
  { principal, context }: ParsedEvent<undefined, SessionPrincipal>,
  { auth }: Container,
) => {
  await auth.endAllSessions(principal, context)
  return noContent()
}

export const handler = httpHandler(endAllSessions, {
  callers: callersOf('end-all-sessions'),
  dependencies: apiContainer(),
})
