import { apiContainer, type Container } from '#shared/app/container'
import { passwordResets } from '#shared/app/features'
import { mailQueue } from '#shared/app/mail-queue'
import { createPasswordHasher } from '#shared/domain/passwords'
import { type PasswordResetConfirmBody, PasswordResetConfirmBodySchema } from '#shared/domain/schemas'
import { httpHandler, noContent, type ParsedEvent } from '#shared/http/handler'
import { callersOf } from './routes.ts'

const confirmReset = async (
  { body, context }: ParsedEvent<PasswordResetConfirmBody>,
  { resets }: Container,
) => {
  await resets.confirm(body, context)
  return noContent()
}

export const handler = httpHandler(confirmReset, {
  callers: callersOf('password-reset-confirm'),
  body: PasswordResetConfirmBodySchema,
  counts: 'password-reset-confirm',
  dependencies: apiContainer({
    passwords: createPasswordHasher,
    mail: mailQueue,
    features: { resets: passwordResets },
  }),
})
