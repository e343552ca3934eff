import { type Container, getSigningContainer } from '#shared/app/container'
import { type RefreshBody, RefreshBodySchema } from '#shared/domain/schemas'
import { httpHandler, ok, type ParsedEvent, TOKEN_RESPONSE_HEADERS } from '#shared/http/handler'

const refresh = async ({ body, context }: ParsedEvent<RefreshBody>, { auth }: Container) =>
  ok(await auth.refresh(body.refresh_token, context), TOKEN_RESPONSE_HEADERS)

export const handler = httpHandler(refresh, { body: RefreshBodySchema, dependencies: getSigningContainer })
