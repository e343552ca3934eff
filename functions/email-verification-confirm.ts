import { apiContainer, type Container } from '#shared/app/container'
import { emailCodes } from '#shared/app/features'
import { type EmailVerificationConfirmBody, EmailVerificationConfirmBodySchema } from '#shared/domain/schemas'
import { httpHandler, ok, type ParsedEvent } from '#shared/http/handler'
import { callersOf } from './routes.ts'

const confirmVerification = async (
  { body, context }: ParsedEvent<EmailVerificationConfirmBody>,
  { codes }: Container,
) => ok(await codes.confirmVerification(body.email, body.code, context))

export const handler = httpHandler(confirmVerification, {
  callers: callersOf('email-verification-confirm'),
  body: EmailVerificationConfirmBodySchema,
  dependencies: apiContainer({ features: { codes: emailCodes } }),
})
