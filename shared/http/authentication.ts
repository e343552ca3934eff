import type {
  APIGatewayEventRequestContextJWTAuthorizer,
  APIGatewayEventRequestContextV2WithAuthorizer,
  APIGatewayProxyEventV2,
} from 'aws-lambda'
import { InsufficientPrivilegesError, NotAuthenticatedError } from '#shared/domain/errors'
import type { SessionPrincipal, TokenPrincipal } from '#shared/domain/principal'

/**
 * Who may call a route, as `functions/routes.ts` declares it for each one:
 * - `anyone`: no credentials (or credentials of its own in the body: a password, a refresh token);
 * - `session`: an active user of a live session: the bearer access token is verified here and its session looked up,
 *   so a revoked session or a deactivated user is refused at once;
 * - `superuser`: the same, and the user a superuser (403 otherwise);
 * - `token`: any holder of a valid access token, verified by API Gateway's JWT authorizer before the function runs
 *   (the local server emulates it); the function trusts the claims the gateway passes.
 */
export type Callers = 'anyone' | 'session' | 'superuser' | 'token'

/** What a handler for `callers` is handed as `ParsedEvent.principal`. */
export type PrincipalOf<C extends Callers> = C extends 'session' | 'superuser'
  ? SessionPrincipal
  : C extends 'token'
    ? TokenPrincipal
    : undefined

/** What the dependencies of a `session` or `superuser` route must offer: the principal of a bearer access token. */
export interface Authenticator {
  authenticate(accessToken: string): Promise<SessionPrincipal>
  /** For a `superuser` route: refuses a principal whose login is too old (`StaleAuthenticationError`). */
  requireRecentLogin(principal: SessionPrincipal): void
}

/** The bearer token of the `Authorization` header; the scheme name is case-insensitive (RFC 7235 §2.1). */
export function bearerToken(headers: Readonly<Record<string, string | undefined>>): string {
  const match = /^\s*(\S+)(?:\s+(.*))?$/.exec(headers.authorization ?? '')
  if (match?.[1]?.toLowerCase() !== 'bearer') throw new NotAuthenticatedError()
  return (match[2] ?? '').trim()
}

/**
 * The principal of a request to a route for `callers`: 401 (`NotAuthenticatedError`, `InvalidTokenError`) without
 * valid credentials, 403 (`InsufficientPrivilegesError`) without the right. Runs before the body is parsed, so an
 * unauthenticated caller learns nothing about what the route accepts.
 */
export async function authenticate(
  callers: Callers,
  event: APIGatewayProxyEventV2,
  authenticator: () => Promise<Partial<Authenticator>>,
): Promise<SessionPrincipal | TokenPrincipal | undefined> {
  if (callers === 'anyone') return undefined
  if (callers === 'token') return gatewayPrincipal(event)
  const token = bearerToken(event.headers ?? {})
  const { authenticate, requireRecentLogin } = await authenticator()
  // A function declared for a session's callers whose dependencies cannot authenticate is a wiring mistake.
  if (!authenticate) throw new Error(`a ${callers} route needs dependencies that authenticate`)
  const principal = await authenticate(token)
  if (callers === 'superuser') {
    if (!principal.user.isSuperuser) throw new InsufficientPrivilegesError()
    if (!requireRecentLogin)
      throw new Error('a superuser route needs dependencies that check the login’s age')
    requireRecentLogin(principal)
  }
  return principal
}

/** The claims API Gateway's JWT authorizer verified; refused (fails closed) when the route was reached without it. */
function gatewayPrincipal(event: APIGatewayProxyEventV2): TokenPrincipal {
  type WithJwt = APIGatewayEventRequestContextV2WithAuthorizer<
    Partial<APIGatewayEventRequestContextJWTAuthorizer>
  >
  // API Gateway passes every claim as a string (a number or a list too), whatever @types/aws-lambda allows.
  const claims = (event.requestContext as Partial<WithJwt>).authorizer?.jwt?.claims as
    | Readonly<Record<string, string>>
    | undefined
  const userId = Number(claims?.sub)
  if (!claims || !Number.isSafeInteger(userId)) throw new NotAuthenticatedError()
  return { userId, sessionId: claims.sid ?? null, claims }
}
