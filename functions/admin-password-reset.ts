import { apiContainer, type Container } from '#shared/app/container'
import { adminActions } from '#shared/app/features'
import { mailQueue } from '#shared/app/mail-queue'
import { UserIdPathSchema } from '#shared/domain/admin-schemas'
import type { SessionPrincipal } from '#shared/domain/principal'
import { accepted, httpHandler, type ParsedEvent } from '#shared/http/handler'
import { parseInput } from '#shared/http/validation'
import { callersOf } from './routes.ts'

/** The answer once the reset mail is queued: the mail sender makes the link and sends it. */
export const ADMIN_RESET_ACCEPTED = {
  detail: 'A link to reset the password has been sent to the account.',
} as const

const sendReset = async (
  { principal, pathParameters, context }: ParsedEvent<undefined, SessionPrincipal>,
  { admin }: Container,
) => {
  await admin.sendPasswordReset(principal, parseInput(UserIdPathSchema, pathParameters, 'path').id, context)
  return accepted(ADMIN_RESET_ACCEPTED)
}

export const handler = httpHandler(sendReset, {
  callers: callersOf('admin-password-reset'),
  dependencies: apiContainer({ mail: mailQueue, features: { admin: adminActions } }),
})
