import { apiContainer, type Container } from '#shared/app/container'
import { passwordResets } from '#shared/app/features'
import { mailQueue } from '#shared/app/mail-queue'
import { type PasswordResetBody, PasswordResetBodySchema } from '#shared/domain/schemas'
import { accepted, httpHandler, type ParsedEvent } from '#shared/http/handler'
import { callersOf } from './routes.ts'

/** The one answer to every accepted reset request, whether or not the address has an account. */
export const PASSWORD_RESET_ACCEPTED = {
  detail: 'If an account with this email exists, a link to reset its password has been sent.',
} as const

const requestReset = async ({ body, context }: ParsedEvent<PasswordResetBody>, { resets }: Container) => {
  await resets.request(body.email, context)
  return accepted(PASSWORD_RESET_ACCEPTED)
}

export const handler = httpHandler(requestReset, {
  callers: callersOf('password-reset'),
  body: PasswordResetBodySchema,
  counts: 'password-reset',
  dependencies: apiContainer({ mail: mailQueue, features: { resets: passwordResets } }),
})
