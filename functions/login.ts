import { apiContainer, type Container } from '#shared/app/container'
import { createPasswordHasher } from '#shared/domain/passwords'
import { type LoginBody, LoginBodySchema } from '#shared/domain/schemas'
import { httpHandler, ok, type ParsedEvent, TOKEN_RESPONSE_HEADERS } from '#shared/http/handler'
import { callersOf } from './routes.ts'

const login = async ({ body, context }: ParsedEvent<LoginBody>, { auth }: Container) =>
  ok(await auth.login(body.email, body.password, context), TOKEN_RESPONSE_HEADERS)

export const handler = httpHandler(login, {
  callers: callersOf('login'),
  body: LoginBodySchema,
  counts: 'login',
  dependencies: apiContainer({ signs: true, passwords: createPasswordHasher }),
})
