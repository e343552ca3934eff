import { apiContainer, type Container } from '#shared/app/container'
import type { SessionPrincipal } from '#shared/domain/principal'
import { httpHandler, noContent, type ParsedEvent } from '#shared/http/handler'
import { callersOf } from './routes.ts'

const endOneSession = async (
  { principal, pathParameters, context }: ParsedEvent<undefined, SessionPrincipal>,
  { auth }: Container,
) => {
  await auth.endSession(principal, pathParameters.id, context)
  return noContent()
}

export const handler = httpHandler(endOneSession, {
  callers: callersOf('end-one-session'),
  dependencies: apiContainer(),
})
