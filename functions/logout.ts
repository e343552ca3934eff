import type { Container } from '#shared/container'
import { httpHandler, noContent, type ParsedEvent } from '#shared/http'
import { type LogoutBody, LogoutBodySchema } from '#shared/schemas'

const logout = async ({ body, context }: ParsedEvent<LogoutBody>, { auth }: Container) => {
  await auth.logout(body.refresh_token, context)
  return noContent()
}

export const handler = httpHandler(logout, { body: LogoutBodySchema })
