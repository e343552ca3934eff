import type { Container } from '#shared/container'
import { created, httpHandler, type ParsedEvent } from '#shared/http'
import { type RegisterBody, RegisterBodySchema } from '#shared/schemas'

const register = async ({ body, context }: ParsedEvent<RegisterBody>, { auth }: Container) =>
  created(await auth.register(body, context))

export const handler = httpHandler(register, { body: RegisterBodySchema })
