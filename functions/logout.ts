import { type Container, getContainer } from '#shared/app/container'
import { type LogoutBody, LogoutBodySchema } from '#shared/domain/schemas'
import { httpHandler, noContent, type ParsedEvent } from '#shared/http/handler'

const logout = async ({ body, context }: ParsedEvent<LogoutBody>, { auth }: Container) => {
  await auth.logout(body.refresh_token, context)
  return noContent()
}

export const handler = httpHandler(logout, { body: LogoutBodySchema, dependencies: getContainer })
