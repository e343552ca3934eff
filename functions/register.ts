import { apiContainer, type Container } from '#shared/app/container'
import { createPasswordHasher } from '#shared/domain/passwords'
import { type RegisterBody, RegisterBodySchema } from '#shared/domain/schemas'
import { created, httpHandler, type ParsedEvent } from '#shared/http/handler'
import { callersOf } from './routes.ts'

const register = async ({ body, context }: ParsedEvent<RegisterBody>, { auth }: Container) =>
  created(await auth.register(body, context))

export const handler = httpHandler(register, {
  callers: callersOf('register'),
  body: RegisterBodySchema,
  dependencies: apiContainer({ passwords: createPasswordHasher }),
})
