import { apiContainer, type Container } from '#shared/app/container'
import type { SessionPrincipal } from '#shared/domain/principal'
import { httpHandler, ok, type ParsedEvent } from '#shared/http/handler'
import { callersOf } from './routes.ts'

const listSessions = async ({ principal }: ParsedEvent<undefined, SessionPrincipal>, { auth }: Container) =>
  ok(await auth.listSessions(principal))

export const handler = httpHandler(listSessions, {
  callers: callersOf('list-sessions'),
  dependencies: apiContainer(),
})
