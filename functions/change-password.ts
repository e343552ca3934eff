import { apiContainer, type Container } from '#shared/app/container'
import { mailQueue } from '#shared/app/mail-queue'
import { createPasswordHasher } from '#shared/domain/passwords'
import type { SessionPrincipal } from '#shared/domain/principal'
import { type ChangePasswordBody, ChangePasswordBodySchema } from '#shared/domain/schemas'
import { httpHandler, noContent, type ParsedEvent } from '#shared/http/handler'
import { callersOf } from './routes.ts'

const changePassword = async (
  { body, principal, context }: ParsedEvent<ChangePasswordBody, SessionPrincipal>,
  { auth }: Container,
) => {
  await auth.changePassword(principal, body, context)
  return noContent()
}

export const handler = httpHandler(changePassword, {
  callers: callersOf('change-password'),
  body: ChangePasswordBodySchema,
  dependencies: apiContainer({ passwords: createPasswordHasher, mail: mailQueue }),
})
