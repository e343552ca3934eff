import { publishedKeys } from '#shared/app/keys'
import type { PublicJwk } from '#shared/domain/signing-keys'
import { jwkSet, WELL_KNOWN_CACHE_CONTROL } from '#shared/http/discovery'
import { httpHandler, ok } from '#shared/http/handler'
import { callersOf } from './routes.ts'

/** The published keys (current, next, previous): public members only, cacheable for five minutes. */
const jwks = async (_event: unknown, published: () => Promise<readonly PublicJwk[]>) =>
  ok(jwkSet(await published()), { 'cache-control': WELL_KNOWN_CACHE_CONTROL })

export const handler = httpHandler(jwks, {
  callers: callersOf('jwks'),
  dependencies: publishedKeys,
})
