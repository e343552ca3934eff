import { type Container, getContainer } from '#shared/app/container'
import { createPasswordHasher } from '#shared/domain/passwords'
import { type PasswordResetConfirmBody, PasswordResetConfirmBodySchema } from '#shared/domain/schemas'
import { httpHandler, noContent, type ParsedEvent } from '#shared/http/handler'

const confirmReset = async (
  { body, context }: ParsedEvent<PasswordResetConfirmBody>,
  { resets }: Container,
) => {
  await resets.confirm(body, context)
  return noContent()
}

export const handler = httpHandler(confirmReset, {
  body: PasswordResetConfirmBodySchema,
  dependencies: () => getContainer({ passwords: createPasswordHasher }),
})
