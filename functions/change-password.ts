import { type Container, getContainer } from '#shared/app/container'
import { createPasswordHasher } from '#shared/domain/passwords'
import { type ChangePasswordBody, ChangePasswordBodySchema } from '#shared/domain/schemas'
import { bearerToken, httpHandler, noContent, type ParsedEvent } from '#shared/http/handler'

const changePassword = async (
  { body, headers, context }: ParsedEvent<ChangePasswordBody>,
  { auth }: Container,
) => {
  await auth.changePassword(bearerToken(headers), body, context)
  return noContent()
}

export const handler = httpHandler(changePassword, {
  body: ChangePasswordBodySchema,
  dependencies: () => getContainer({ passwords: createPasswordHasher }),
})
