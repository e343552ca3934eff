import { type Container, getContainer } from '#shared/app/container'
import { bearerToken, httpHandler, ok, type ParsedEvent } from '#shared/http/handler'

const me = async ({ headers }: ParsedEvent, { auth }: Container) =>
  ok(await auth.currentUser(bearerToken(headers)))

export const handler = httpHandler(me, { dependencies: getContainer })
