/**
 * The sample route behind API Gateway's JWT authorizer (`callers: 'token'` in `routes.ts`): the gateway has verified
 * the access token before this function runs, so it reads the claims and never sees a token. A new function for any
 * holder of a valid token is written the same way.
 */
import type { TokenPrincipal } from '#shared/domain/principal'
import { httpHandler, ok, type ParsedEvent } from '#shared/http/handler'
import { callersOf } from './routes.ts'

const claims = async ({ principal }: ParsedEvent<undefined, TokenPrincipal>) => ok(principal.claims)

export const handler = httpHandler(claims, { callers: callersOf('claims') })
