import { apiContainer, type Container } from '#shared/app/container'
import { accountDeletion } from '#shared/app/features'
import { mailQueue } from '#shared/app/mail-queue'
import { createPasswordHasher } from '#shared/domain/passwords'
import type { SessionPrincipal } from '#shared/domain/principal'
import { type DeleteAccountBody, DeleteAccountBodySchema } from '#shared/domain/schemas'
import { httpHandler, noContent, type ParsedEvent } from '#shared/http/handler'
import { callersOf } from './routes.ts'

const deleteAccount = async (
  { body, principal, context }: ParsedEvent<DeleteAccountBody, SessionPrincipal>,
  { deletion }: Container,
) => {
  await deletion.deleteOwn(principal, body.current_password, context)
  return noContent()
}

export const handler = httpHandler(deleteAccount, {
  callers: callersOf('delete-account'),
  body: DeleteAccountBodySchema,
  dependencies: apiContainer({
    passwords: createPasswordHasher,
    mail: mailQueue,
    features: { deletion: accountDeletion },
  }),
})
