import { apiContainer, type Container } from '#shared/app/container'
import { userPreferences } from '#shared/app/features'
import { type PreferencesBody, PreferencesBodySchema } from '#shared/domain/preferences'
import type { SessionPrincipal } from '#shared/domain/principal'
import { httpHandler, ok, type ParsedEvent } from '#shared/http/handler'
import { callersOf } from './routes.ts'

const putPreferences = async (
  { body, principal }: ParsedEvent<PreferencesBody, SessionPrincipal>,
  { preferences }: Container,
) => ok(await preferences.put(principal, body))

export const handler = httpHandler(putPreferences, {
  callers: callersOf('put-preferences'),
  body: PreferencesBodySchema,
  dependencies: apiContainer({ features: { preferences: userPreferences } }),
})
