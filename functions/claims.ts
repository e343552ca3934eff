/**
 * The sample route behind API Gateway's JWT authorizer (`auth: 'jwt'` in `routes.ts`): the gateway has verified the
 * access token before this function runs, so it reads the claims and never sees a token. A new protected function is
 * written the same way.
 */
import { NotAuthenticatedError } from '#shared/domain/errors'
import { httpHandler, ok, type ParsedEvent } from '#shared/http/handler'

const claims = async (event: ParsedEvent) => {
  // Fails closed: without the authorizer's claims the route was reached some other way.
  if (!event.claims) throw new NotAuthenticatedError()
  return ok(event.claims)
}

export const handler = httpHandler(claims)
