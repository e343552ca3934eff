import { apiContainer, type Container } from '#shared/app/container'
import { userPreferences } from '#shared/app/features'
import type { SessionPrincipal } from '#shared/domain/principal'
import { httpHandler, ok, type ParsedEvent } from '#shared/http/handler'
import { callersOf } from './routes.ts'

const getPreferences = async (
  { principal }: ParsedEvent<undefined, SessionPrincipal>,
  { preferences }: Container,
) => ok(await preferences.get(principal))

export const handler = httpHandler(getPreferences, {
  callers: callersOf('get-preferences'),
  dependencies: apiContainer({ features: { preferences: userPreferences } }),
})
