import { apiContainer, type Container } from '#shared/app/container'
import { type RefreshBody, RefreshBodySchema } from '#shared/domain/schemas'
import { httpHandler, ok, type ParsedEvent, TOKEN_RESPONSE_HEADERS } from '#shared/http/handler'
import { callersOf } from './routes.ts'

const refresh = async ({ body, context }: ParsedEvent<RefreshBody>, { auth }: Container) =>
  ok(await auth.refresh(body.refresh_token, context), TOKEN_RESPONSE_HEADERS)

export const handler = httpHandler(refresh, {
  callers: callersOf('refresh'),
  body: RefreshBodySchema,
  dependencies: apiContainer({ signs: true }),
})
