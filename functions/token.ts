import type { Container } from '#shared/container'
import { httpHandler, ok, type ParsedEvent, TOKEN_RESPONSE_HEADERS } from '#shared/http'
import { type TokenForm, TokenFormSchema, toTokenRequest } from '#shared/schemas'

const token = async ({ body }: ParsedEvent<TokenForm>, { auth }: Container) =>
  ok(await auth.token(toTokenRequest(body)), TOKEN_RESPONSE_HEADERS)

export const handler = httpHandler(token, { form: TokenFormSchema, errors: 'oauth' })
