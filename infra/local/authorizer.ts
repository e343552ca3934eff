/**
 * API Gateway's HTTP API JWT authorizer, as the local server applies it to the routes declared `callers: 'token'`. AWS's
 * developer guide ("Control access to HTTP APIs with JWT authorizers"; "Troubleshooting issues with HTTP API JWT
 * authorizers") describes what it does: the token is the identity source (`Authorization`, bare or after `Bearer`);
 * its RSA signature is checked with the issuer's published key that its `kid` names, then `iss`, `aud` (or
 * `client_id`), `exp`, `nbf` and `iat`; any failure is a 401 `{"message":"Unauthorized"}` that the function never
 * sees, and a pass hands the function the claims in `requestContext.authorizer.jwt`, each as a string.
 */
import { type GatewayTokenRefusal, verifyGatewayToken } from '#shared/domain/tokens'

type PublishedKey = Parameters<typeof verifyGatewayToken>[1]['keys'][number]

export interface JwtAuthorizerSettings {
  /** The authorizer's issuer: the `iss` every token must carry (the service's `JWT_ISSUER`). */
  issuer: string
  /** The authorizer's one audience (the service's `JWT_AUDIENCE`). */
  audience: string
  /** The keys the issuer publishes at its `jwks_uri`, as the gateway would fetch them. */
  keys: () => Promise<readonly PublishedKey[]>
}

/** What API Gateway puts in a payload 2.0 event's `requestContext.authorizer` after a JWT authorizer let it through. */
export interface JwtAuthorizerContext {
  jwt: { claims: Record<string, string>; scopes: string[] | null }
}

export type AuthorizerVerdict =
  | { allowed: true; authorizer: JwtAuthorizerContext }
  | { allowed: false; statusCode: 401; headers: Record<string, string>; body: string }

/**
 * Each refusal's `error_description`. AWS documents the audience one word for word (the troubleshooting page); the
 * gateway words the others in the same way, and no client should parse them: the status and body are what matter.
 */
const DESCRIPTIONS: Record<GatewayTokenRefusal, string> = {
  malformed: 'the token is malformed',
  algorithm: 'the token is not signed with a supported algorithm',
  'signing-key': 'the token was not signed by a key of the issuer',
  signature: 'the token signature is invalid',
  issuer: 'the token does not have a valid issuer',
  audience: 'the token does not have a valid audience',
  expired: 'the token has expired',
  'not-yet-valid': 'the token is not valid yet',
  'issued-in-future': 'the token was issued in the future',
}

const UNAUTHORIZED_BODY = JSON.stringify({ message: 'Unauthorized' })

const unauthorized = (challenge: string): AuthorizerVerdict => ({
  allowed: false,
  statusCode: 401,
  headers: { 'content-type': 'application/json', 'www-authenticate': challenge },
  body: UNAUTHORIZED_BODY,
})

/** The gateway's verdict on a request's `Authorization` header (as the payload 2.0 event carries it). */
export async function authorizeJwt(
  authorization: string | undefined,
  settings: JwtAuthorizerSettings,
): Promise<AuthorizerVerdict> {
  const token = (authorization ?? '').trim().replace(/^Bearer(\s+|$)/i, '')
  // No identity source: the gateway names the scheme only.
  if (token === '') return unauthorized('Bearer')
  const result = await verifyGatewayToken(token, {
    issuer: settings.issuer,
    audience: settings.audience,
    keys: await settings.keys(),
  })
  if (!result.valid) {
    // The challenge as AWS's troubleshooting page shows it: space-separated parameters, an empty scope.
    return unauthorized(
      `Bearer scope="" error="invalid_token" error_description="${DESCRIPTIONS[result.refusal]}"`,
    )
  }
  const { scope } = result.claims
  return {
    allowed: true,
    authorizer: {
      jwt: {
        claims: gatewayClaims(result.claims),
        scopes: typeof scope === 'string' ? scope.split(' ').filter(Boolean) : null,
      },
    },
  }
}

/**
 * The claims as API Gateway passes them to the integration: every value a string (`"exp": "1700000000"`), a list
 * as `[a b]`.
 */
export function gatewayClaims(claims: Readonly<Record<string, unknown>>): Record<string, string> {
  const text = (value: unknown): string => {
    if (typeof value === 'string') return value
    if (Array.isArray(value)) return `[${value.map(text).join(' ')}]`
    if (typeof value === 'object' && value !== null) return JSON.stringify(value)
    return String(value)
  }
  return Object.fromEntries(Object.entries(claims).map(([name, value]) => [name, text(value)]))
}
