import { SIGNING_ALGORITHM } from '#shared/domain/signing-keys'
import { discoveryDocument, WELL_KNOWN_CACHE_CONTROL } from '#shared/http/discovery'
import { httpHandler, ok } from '#shared/http/handler'
import { loadSettings } from '#shared/platform/config'
import { API_BASE_PATH, callersOf } from './routes.ts'

let built: ReturnType<typeof discoveryDocument> | undefined

/** The discovery document, built once at init from the issuer setting; it needs no key and no secret. */
const document = async () => {
  built ??= discoveryDocument({
    issuer: loadSettings().JWT_ISSUER,
    tokenPath: `${API_BASE_PATH}/auth/token`,
    algorithm: SIGNING_ALGORITHM,
  })
  return built
}

const openidConfiguration = async (_event: unknown, body: ReturnType<typeof discoveryDocument>) =>
  ok(body, { 'cache-control': WELL_KNOWN_CACHE_CONTROL })

export const handler = httpHandler(openidConfiguration, {
  callers: callersOf('openid-configuration'),
  dependencies: document,
})
