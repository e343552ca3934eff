import { type Container, getContainer } from '#shared/app/container'
import { bearerToken, httpHandler, noContent, type ParsedEvent } from '#shared/http/handler'

const endSessions = async ({ headers, context }: ParsedEvent, { auth }: Container) => {
  await auth.endAllSessions(bearerToken(headers), context)
  return noContent()
}

export const handler = httpHandler(endSessions, { dependencies: getContainer })
