import { apiContainer, type Container } from '#shared/app/container'
import { emailCodes } from '#shared/app/features'
import { mailQueue } from '#shared/app/mail-queue'
import { createPasswordHasher } from '#shared/domain/passwords'
import type { SessionPrincipal } from '#shared/domain/principal'
import { type EmailChangeBody, EmailChangeBodySchema } from '#shared/domain/schemas'
import { accepted, httpHandler, type ParsedEvent } from '#shared/http/handler'
import { callersOf } from './routes.ts'

/** The answer to an accepted email change: the code is on its way to the new address; nothing has changed yet. */
export const EMAIL_CHANGE_ACCEPTED = {
  detail: 'A code has been sent to the new address. The email changes once the code is confirmed.',
} as const

const requestChange = async (
  { body, principal, context }: ParsedEvent<EmailChangeBody, SessionPrincipal>,
  { codes }: Container,
) => {
  await codes.requestChange(principal, body.new_email, body.current_password, context)
  return accepted(EMAIL_CHANGE_ACCEPTED)
}

export const handler = httpHandler(requestChange, {
  callers: callersOf('email-change'),
  body: EmailChangeBodySchema,
  dependencies: apiContainer({
    passwords: createPasswordHasher,
    mail: mailQueue,
    features: { codes: emailCodes },
  }),
})
