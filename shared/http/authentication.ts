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
