import { apiContainer, type Container } from '#shared/app/container'
import { createPasswordHasher } from '#shared/domain/passwords'
import { grantTypeOf, type TokenForm, TokenFormSchema, toTokenRequest } from '#shared/domain/schemas'
import { httpHandler, ok, type ParsedEvent, TOKEN_RESPONSE_HEADERS } from '#shared/http/handler'
import { callersOf } from './routes.ts'

const token = async ({ body, context }: ParsedEvent<TokenForm>, { auth }: Container) =>
  ok(await auth.token(toTokenRequest(body), context), TOKEN_RESPONSE_HEADERS)

export const handler = httpHandler(token, {
  callers: callersOf('token'),
  form: TokenFormSchema,
  errors: 'oauth',
  // The password grant is a login; the refresh grant renews a session, as /auth/refresh does, and counts as none.
  counts: (form) => (grantTypeOf(form) === 'password' ? 'login' : undefined),
  dependencies: apiContainer({ signs: true, passwords: createPasswordHasher }),
})
