import { apiContainer } from '#shared/app/container'
import { toPublicUser } from '#shared/domain/contract'
import type { SessionPrincipal } from '#shared/domain/principal'
import { httpHandler, ok, type ParsedEvent } from '#shared/http/handler'
import { callersOf } from './routes.ts'

const me = async ({ principal }: ParsedEvent<undefined, SessionPrincipal>) => ok(toPublicUser(principal.user))

export const handler = httpHandler(me, { callers: callersOf('me'), dependencies: apiContainer() })
