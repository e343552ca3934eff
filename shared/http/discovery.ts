/**
 * What the issuer publishes at its URL (outside the API's base path): the public keys (RFC 7517, a JWK Set) and the
 * discovery document (OpenID Connect Discovery 1.0 §3; RFC 8414 reads the same fields), so that any service, and API
 * Gateway's JWT authorizer, verifies access tokens without a secret.
 */
import type { PublicJwk } from '#shared/domain/signing-keys'
import { ConfigError } from '#shared/platform/config'
import { WELL_KNOWN_MAX_AGE_SECONDS } from '#shared/platform/key-rotation-timing'

export const JWKS_PATH = '/.well-known/jwks.json'
export const DISCOVERY_PATH = '/.well-known/openid-configuration'

/**
 * Caches may keep the keys and the document five minutes: a new key is published hours before it signs, the five
 * minutes included (`MIN_PUBLICATION_MS`).
 */
export const WELL_KNOWN_CACHE_CONTROL = `public, max-age=${WELL_KNOWN_MAX_AGE_SECONDS}`

/** The JWK Set: public members only (`kty`, `n`, `e`, `kid`, `alg`, `use`), whatever the stored keys carry. */
export const jwkSet = (keys: readonly PublicJwk[]) => ({
  keys: keys.map(({ kty, n, e, kid, alg, use }) => ({ kty, n, e, kid, alg, use })),
})

/**
 * The issuer as a URL: `https` (or `http` on a loopback address, as `npm start` serves), no query or fragment, as
 * OpenID Connect Discovery §3 requires of the `issuer` its document names; without a trailing slash.
 */
export function issuerUrl(issuer: string): string {
  let url: URL
  try {
    url = new URL(issuer)
  } catch {
    throw new ConfigError(['JWT_ISSUER must be the issuer URL to publish a discovery document'])
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)
  if (!(url.protocol === 'https:' || (url.protocol === 'http:' && loopback)) || url.search || url.hash) {
    throw new ConfigError(['JWT_ISSUER must be an https URL without query or fragment'])
  }
  return issuer.replace(/\/+$/, '')
}

export interface DiscoverySettings {
  issuer: string
  /** Where the token endpoint is, under the API's base path. */
  tokenPath: string
  /** The access tokens' algorithm. */
  algorithm: string
}

/**
 * The discovery document. OpenID Connect Discovery 1.0 §3 requires `issuer`, `authorization_endpoint`, `jwks_uri`,
 * `response_types_supported`, `subject_types_supported` and `id_token_signing_alg_values_supported` (RS256 included),
 * and `token_endpoint` unless only the implicit flow is used. This issuer grants `password` and `refresh_token` at
 * its token endpoint and has no authorization endpoint, so none is named, as RFC 8414 §2 allows ("REQUIRED unless no
 * grant types are supported that use the authorization endpoint"), and `response_types_supported` is empty. It
 * issues no ID token; `id_token_signing_alg_values_supported` states the one algorithm it signs with. `sub` is the
 * same user id for every client (`public`), and the one client is public: `client_secret` is ignored (`none`).
 */
export function discoveryDocument({ issuer, tokenPath, algorithm }: DiscoverySettings) {
  const base = issuerUrl(issuer)
  return {
    issuer: base,
    jwks_uri: `${base}${JWKS_PATH}`,
    token_endpoint: `${base}${tokenPath}`,
    grant_types_supported: ['password', 'refresh_token'],
    response_types_supported: [],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [algorithm],
    token_endpoint_auth_methods_supported: ['none'],
  }
}
