import { apiContainer, type Container } from '#shared/app/container'
import { emailCodes } from '#shared/app/features'
import { mailQueue } from '#shared/app/mail-queue'
import { type EmailVerificationBody, EmailVerificationBodySchema } from '#shared/domain/schemas'
import { accepted, httpHandler, type ParsedEvent } from '#shared/http/handler'
import { callersOf } from './routes.ts'

/** The one answer to every accepted code request, whether or not the address has an account that gets a code. */
export const EMAIL_VERIFICATION_ACCEPTED = {
  detail: 'If an account with this email needs verifying, a code has been sent to it.',
} as const

const requestVerification = async (
  { body, context }: ParsedEvent<EmailVerificationBody>,
  { codes }: Container,
) => {
  await codes.requestVerification(body.email, context)
  return accepted(EMAIL_VERIFICATION_ACCEPTED)
}

export const handler = httpHandler(requestVerification, {
  callers: callersOf('email-verification'),
  body: EmailVerificationBodySchema,
  dependencies: apiContainer({ mail: mailQueue, features: { codes: emailCodes } }),
})
