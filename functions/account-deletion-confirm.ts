import { apiContainer, type Container } from '#shared/app/container'
import { accountDeletion } from '#shared/app/features'
import { mailQueue } from '#shared/app/mail-queue'
import { type AccountDeletionConfirmBody, AccountDeletionConfirmBodySchema } from '#shared/domain/schemas'
import { httpHandler, noContent, type ParsedEvent } from '#shared/http/handler'
import { callersOf } from './routes.ts'

const confirmDeletion = async (
  { body, context }: ParsedEvent<AccountDeletionConfirmBody>,
  { deletion }: Container,
) => {
  await deletion.confirm(body.token, context)
  return noContent()
}

export const handler = httpHandler(confirmDeletion, {
  callers: callersOf('account-deletion-confirm'),
  body: AccountDeletionConfirmBodySchema,
  dependencies: apiContainer({ mail: mailQueue, features: { deletion: accountDeletion } }),
})
