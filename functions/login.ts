import type { Container } from '#shared/container'
import { httpHandler, ok, type ParsedEvent, TOKEN_RESPONSE_HEADERS } from '#shared/http'
import { type LoginBody, LoginBodySchema } from '#shared/schemas'

const login = async ({ body, context }: ParsedEvent<LoginBody>, { auth }: Container) =>
  ok(await auth.login(body.email, body.password, context), TOKEN_RESPONSE_HEADERS)

export const handler = httpHandler(login, { body: LoginBodySchema })
