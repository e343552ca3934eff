import { apiContainer, type Container } from '#shared/app/container'
import { emailCodes } from '#shared/app/features'
import { mailQueue } from '#shared/app/mail-queue'
import { createPasswordHasher } from '#shared/domain/passwords'
import { type RegisterBody, RegisterBodySchema } from '#shared/domain/schemas'
import { created, httpHandler, type ParsedEvent } from '#shared/http/handler'
import { callersOf } from './routes.ts'

const register = async ({ body, context }: ParsedEvent<RegisterBody>, { auth, codes, config }: Container) => {
  const user = await auth.register(body, context)
  // `EMAIL_VERIFICATION=required`: the code goes at once. Best effort: the account exists whatever happens now, and
  // `POST /auth/email-verification` asks again (a refusal by the limits, or a queue down, is the user's next step).
  if (config.EMAIL_VERIFICATION === 'required')
    await codes.requestVerification(user.email, context).catch(() => undefined)
  return created(user)
}

export const handler = httpHandler(register, {
  callers: callersOf('register'),
  body: RegisterBodySchema,
  dependencies: apiContainer({
    passwords: createPasswordHasher,
    mail: mailQueue,
    features: { codes: emailCodes },
  }),
})
