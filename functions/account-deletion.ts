import { apiContainer, type Container } from '#shared/app/container'
import { accountDeletion } from '#shared/app/features'
import { mailQueue } from '#shared/app/mail-queue'
import { type AccountDeletionBody, AccountDeletionBodySchema } from '#shared/domain/schemas'
import { accepted, httpHandler, type ParsedEvent } from '#shared/http/handler'
import { callersOf } from './routes.ts'

/** The one answer to every accepted deletion-link request, whether or not the address has an account. */
export const ACCOUNT_DELETION_ACCEPTED = {
  detail: 'If an account with this email exists, a link to delete it has been sent.',
} as const

const requestDeletion = async (
  { body, context }: ParsedEvent<AccountDeletionBody>,
  { deletion }: Container,
) => {
  await deletion.request(body.email, context)
  return accepted(ACCOUNT_DELETION_ACCEPTED)
}

export const handler = httpHandler(requestDeletion, {
  callers: callersOf('account-deletion'),
  body: AccountDeletionBodySchema,
  dependencies: apiContainer({ mail: mailQueue, features: { deletion: accountDeletion } }),
})
