import { apiContainer, type Container } from '#shared/app/container'
import { type LogoutBody, LogoutBodySchema } from '#shared/domain/schemas'
import { httpHandler, noContent, type ParsedEvent } from '#shared/http/handler'
import { callersOf } from './routes.ts'

const logout = async ({ body, context }: ParsedEvent<LogoutBody>, { auth }: Container) => {
  await auth.logout(body.refresh_token, context)
  return noContent()
}

export const handler = httpHandler(logout, {
  callers: callersOf('logout'),
  body: LogoutBodySchema,
  dependencies: apiContainer(),
})
