import { apiContainer, type Container } from '#shared/app/container'
import { emailCodes } from '#shared/app/features'
import { mailQueue } from '#shared/app/mail-queue'
import type { SessionPrincipal } from '#shared/domain/principal'
import { type EmailChangeConfirmBody, EmailChangeConfirmBodySchema } from '#shared/domain/schemas'
import { httpHandler, ok, type ParsedEvent } from '#shared/http/handler'
import { callersOf } from './routes.ts'

const confirmChange = async (
  { body, principal, context }: ParsedEvent<EmailChangeConfirmBody, SessionPrincipal>,
  { codes }: Container,
) => ok(await codes.confirmChange(principal, body.code, context))

export const handler = httpHandler(confirmChange, {
  callers: callersOf('email-change-confirm'),
  body: EmailChangeConfirmBodySchema,
  dependencies: apiContainer({ mail: mailQueue, features: { codes: emailCodes } }),
})
