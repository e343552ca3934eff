import { type Container, getContainer } from '#shared/app/container'
import { bearerToken, httpHandler, noContent, type ParsedEvent } from '#shared/http/handler'

const endSession = async ({ headers, pathParameters, context }: ParsedEvent, { auth }: Container) => {
  await auth.endSession(bearerToken(headers), pathParameters.id, context)
  return noContent()
}

export const handler = httpHandler(endSession, { dependencies: getContainer })
