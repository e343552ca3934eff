import { type Container, getContainer } from '#shared/app/container'
import { bearerToken, httpHandler, ok, type ParsedEvent } from '#shared/http/handler'

const sessions = async ({ headers }: ParsedEvent, { auth }: Container) =>
  ok(await auth.listSessions(bearerToken(headers)))

export const handler = httpHandler(sessions, { dependencies: getContainer })
