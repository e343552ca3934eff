import { type Container, getContainer } from '#shared/app/container'
import { createPasswordHasher } from '#shared/domain/passwords'
import { type RegisterBody, RegisterBodySchema } from '#shared/domain/schemas'
import { created, httpHandler, type ParsedEvent } from '#shared/http/handler'

const register = async ({ body, context }: ParsedEvent<RegisterBody>, { auth }: Container) =>
  created(await auth.register(body, context))

export const handler = httpHandler(register, {
  body: RegisterBodySchema,
  dependencies: () => getContainer({ passwords: createPasswordHasher }),
})
