import { randomUUID } from 'node:crypto'
import {
  isoWithOffset,
  type PublicSession,
  type PublicUser,
  type TokenPair,
  toPublicUser,
} from './contract.ts'
import {
  EmailNotVerifiedError,
  IncorrectPasswordError,
  InvalidCredentialsError,
  InvalidTokenError,
  RegistrationLimitError,
  SessionNotFoundError,
  StaleAuthenticationError,
  TooManyAttemptsError,
} from './errors.ts'
import type { PasswordHasher } from './passwords.ts'
import type { LoginAttempt, LoginRepository, MailQueue, SessionRepository, UserRepository } from './ports.ts'
import type { SessionPrincipal } from './principal.ts'
import {
  type ChangePasswordBody,
  isUuid,
  PASSWORD_MAX_BYTES,
  type RegisterBody,
  type TokenRequest,
} from './schemas.ts'
import type { TokenService } from './tokens.ts'
import type { RequestContext, UserRecord } from './users.ts'

export type { PublicSession, TokenPair } from './contract.ts'

export interface AuthDependencies {
  users: Pick<UserRepository, 'reserveRegistration' | 'register'>
  logins: LoginRepository
  sessions: SessionRepository
  passwords: PasswordHasher
  tokens: TokenService
  /** Where the "your password was changed" notice is queued; absent when the deployment sends no mail. */
  mail?: MailQueue | undefined
  /** How recent a login must be for an admin route (`ADMIN_MAX_AUTH_AGE_SECONDS`), and the clock it is judged by. */
  adminAuth: { maxAgeSeconds: number; now: () => Date }
  /** `EMAIL_VERIFICATION`: with `required`, the right password of an unverified account starts no session (403). */
  emailVerification?: 'optional' | 'required'
}

export type AuthService = ReturnType<typeof createAuthService>

/** Registration, login, token rotation and the current user: every rule of the contract that is not HTTP. */
export function createAuthService({
  users,
  logins,
  sessions,
  passwords,
  tokens,
  mail,
  adminAuth,
  emailVerification = 'optional',
}: AuthDependencies) {
  /** A pair for the session; `authTime` its login, unset at the login itself (now). */
  const tokenPair = async (
    userId: number,
    sessionId: string,
    refreshToken: string,
    emailVerified: boolean,
    authTime?: Date,
  ): Promise<TokenPair> => ({
    access_token: await tokens.issueAccessToken({
      userId,
      sessionId,
      emailVerified,
      ...(authTime ? { authTime } : {}),
    }),
    refresh_token: refreshToken,
    token_type: 'bearer',
    expires_in: tokens.accessTokenTtlSeconds,
  })

  /**
   * A password check under the failed-login limits, for every path that checks one: the attempt is counted against
   * the email and the source IP before the password is looked at, so no more than each limit of checks run per
   * window however many arrive at once; past either, it is refused unchecked (429). Otherwise the bcrypt work of one
   * compare at the highest cost of any stored hash (or `BCRYPT_COST` if higher), whatever the account, its hash's cost
   * and the outcome (`passwords.ts`), so unknown emails and wrong passwords look alike. The account, when the password
   * is its own and `accepts` it (the caller then gives the address its place back: successes never count against
   * it); else the failure is recorded and `refusal` thrown.
   */
  async function checkPassword(
    email: string,
    password: string,
    context: RequestContext,
    { accepts, refusal }: { accepts: (user: UserRecord) => boolean; refusal: () => Error },
  ): Promise<{ user: UserRecord; needsRehash: boolean; attempt: LoginAttempt }> {
    const attempt = await logins.begin({ id: randomUUID(), email }, context)
    if (attempt.refusedForSeconds !== null) {
      // Only when the email's lock refused it after all (first attempts on a new email racing): a place it took from
      // the address goes back, as no compare ran. Best effort: the answer is the refusal either way.
      if (attempt.reservation !== null) await logins.release(attempt, context).catch(() => undefined)
      throw new TooManyAttemptsError(attempt.refusedForSeconds)
    }
    const { user } = attempt
    const check = await passwords.verify(password, user?.hashedPassword ?? null, {
      carriedOver: user?.passwordCarriedOver === true,
    })
    if (!user || !check.ok || !accepts(user)) {
      await logins.recordFailure(attempt, context)
      throw refusal()
    }
    return { user, needsRehash: check.needsRehash, attempt }
  }

  async function login(email: string, password: string, context: RequestContext): Promise<TokenPair> {
    const { user, needsRehash, attempt } = await checkPassword(email, password, context, {
      accepts: (account) => account.isActive,
      refusal: () => new InvalidCredentialsError(),
    })
    if (emailVerification === 'required' && !user.emailVerified) {
      // The right password: a success, which clears the email's count as a login's does; only then is it said (a
      // wrong password was answered 401 above, so this tells nothing to someone without it).
      await logins.succeeded(attempt, context).catch(() => undefined)
      throw new EmailNotVerifiedError()
    }

    const sessionId = randomUUID()
    const refresh = tokens.issueRefreshToken()
    const [pair, started] = await Promise.all([
      tokenPair(user.id, sessionId, refresh.token, user.emailVerified),
      logins.startSession(
        {
          id: sessionId,
          user,
          reservation: attempt.reservation,
          refreshTokenHash: refresh.hash,
          refreshTokenExpiresAt: refresh.expiresAt,
        },
        context,
      ),
    ])
    // The password was changed or reset (or the account deactivated) while this one was being checked: the password
    // it checked is no longer the account's, so no session starts on it.
    if (!started) throw new InvalidCredentialsError()
    await upgradeHash(user, password, needsRehash)
    return pair
  }

  /**
   * After a successful login, a hash at `BCRYPT_COST` when the stored one has another cost: lower, or higher (the
   * setting lowered, or carried over), as every check costs what the costliest stored hash does, so none should stay
   * above the setting past its account's next login. And for a hash carried over from the FastAPI backend, a hash of
   * this service's own once the password is shorter than bcrypt's 72 bytes, so it cannot be the cut-off start of a
   * longer one (the mark then goes). A carried-over password of 72 bytes or more keeps its mark, and its user logs in
   * with all of it, until they set a new password. Best effort: the login has succeeded, and a rehash that loses to
   * another login's, or fails, is done again at the next one.
   */
  async function upgradeHash(user: UserRecord, password: string, otherCost: boolean): Promise<void> {
    const fits = Buffer.byteLength(password, 'utf8') < PASSWORD_MAX_BYTES
    const carriedOver = user.passwordCarriedOver && !fits
    if (!otherCost && !(user.passwordCarriedOver && fits)) return
    // A failure here (the database gone since the session started) is not the login's: the next one rehashes.
    await logins.upgradeHash({ user, hash: await passwords.hash(password), carriedOver }).catch(() => false)
  }

  /** Exchanges a live refresh token of a live session for a new pair; a replayed one revokes its session. */
  async function refresh(refreshToken: string, context: RequestContext): Promise<TokenPair> {
    const hash = tokens.hashRefreshToken(refreshToken)
    const next = tokens.issueRefreshToken()
    const rotated = await sessions.rotate(hash, next, context)
    if (!rotated) {
      await sessions.revokeIfReplayed(hash, context)
      throw new InvalidTokenError()
    }
    return tokenPair(rotated.userId, rotated.sessionId, next.token, rotated.emailVerified, rotated.startedAt)
  }

  return {
    /**
     * The principal of an access token: its user while active, and its session while live (one statement after the
     * signature check). What the HTTP layer runs for a `session` or `superuser` route, before the handler.
     */
    async authenticate(accessToken: string): Promise<SessionPrincipal> {
      const { userId, sessionId, authTime = null } = await tokens.verifyAccessToken(accessToken)
      const user = await sessions.findUser(userId, sessionId)
      if (!user) throw new InvalidTokenError()
      return { user, sessionId, authTime }
    },

    /**
     * An admin route's second check: the token's login (`auth_time`) no older than `ADMIN_MAX_AUTH_AGE_SECONDS`. A
     * token without the claim (issued before it existed) counts as too old.
     */
    requireRecentLogin({ authTime }: SessionPrincipal): void {
      const { maxAgeSeconds, now } = adminAuth
      if (!authTime || now().getTime() - authTime.getTime() > maxAgeSeconds * 1000)
        throw new StaleAuthenticationError(maxAgeSeconds)
    },

    /**
     * Counted against the source IP first, in a statement of its own: a registration the limit refuses costs no
     * hash, and one the insert refuses (a taken email or username) stays counted, so neither can be probed freely.
     */
    async register(
      { email, password, username }: RegisterBody,
      context: RequestContext,
    ): Promise<PublicUser> {
      const { refusedForSeconds } = await users.reserveRegistration(randomUUID(), context)
      if (refusedForSeconds !== null) throw new RegistrationLimitError(refusedForSeconds)
      const hashedPassword = await passwords.hash(password)
      return toPublicUser(
        await users.register({ email, username: username ?? null, hashedPassword }, context),
      )
    },

    login,
    refresh,

    /** The OAuth 2.0 token endpoint: the password grant is `login`, the refresh grant is `refresh`. */
    token(request: TokenRequest, context: RequestContext): Promise<TokenPair> {
      return request.grantType === 'password'
        ? login(request.email, request.password, context)
        : refresh(request.refreshToken, context)
    },

    /** Revokes the token's session; unknown and already revoked tokens are accepted, so repeating is harmless. */
    async logout(refreshToken: string, context: RequestContext): Promise<void> {
      await sessions.revoke(tokens.hashRefreshToken(refreshToken), context)
    },

    /** The live sessions of the caller, their own marked `current`. */
    async listSessions({ user, sessionId }: SessionPrincipal): Promise<PublicSession[]> {
      return (await sessions.list(user.id)).map((session) => ({
        id: session.id,
        created_at: isoWithOffset(session.createdAt),
        last_used_at: isoWithOffset(session.lastUsedAt),
        ip: session.sourceIp,
        user_agent: session.userAgent,
        current: session.id === sessionId,
      }))
    },

    /** Ends one session of the caller; any id that is not one of theirs is a 404, whoever's it is. */
    async endSession(
      { user }: SessionPrincipal,
      id: string | undefined,
      context: RequestContext,
    ): Promise<void> {
      const sessionId = id?.toLowerCase()
      if (!sessionId || !isUuid(sessionId)) throw new SessionNotFoundError()
      if (!(await sessions.end(user.id, sessionId, context))) throw new SessionNotFoundError()
    },

    /** Ends every session of the caller, their own included. */
    async endAllSessions({ user }: SessionPrincipal, context: RequestContext): Promise<void> {
      await sessions.endAll(user.id, context)
    },

    /**
     * The caller's current password checked as a login checks it (the same limits and lock: counted before the
     * compare, a wrong one counts, a right one gives the address its place back); `IncorrectPasswordError` if wrong.
     */
    async verifyOwnPassword(
      { user }: SessionPrincipal,
      password: string,
      context: RequestContext,
    ): Promise<UserRecord> {
      const { user: stored, attempt } = await checkPassword(user.email, password, context, {
        accepts: (account) => account.id === user.id,
        refusal: () => new IncorrectPasswordError(),
      })
      await logins.succeeded(attempt, context).catch(() => undefined)
      return stored
    },

    /**
     * Checks the current password as a login does (counted before the compare, so the failed-login limits bound it
     * too, and a wrong one counts towards them; a right one gives the address its place back), then stores the new
     * hash and revokes every other session. Of two concurrent changes at most one succeeds: the other finds the hash
     * it checked replaced, and is answered as a wrong password without being counted.
     */
    async changePassword(
      { user, sessionId }: SessionPrincipal,
      { current_password, new_password }: ChangePasswordBody,
      context: RequestContext,
    ): Promise<void> {
      const { user: stored, attempt } = await checkPassword(user.email, current_password, context, {
        accepts: (account) => account.id === user.id,
        refusal: () => new IncorrectPasswordError(),
      })
      // Before the change, which clears the email's recent attempts that make the release count once. Best effort:
      // a place not given back only counts against the address until its window ends.
      await logins.release(attempt, context).catch(() => undefined)
      const noticeId = randomUUID()
      const changed = await sessions.changePassword(
        {
          id: randomUUID(),
          user: stored,
          sessionId,
          hash: await passwords.hash(new_password),
          noticeId,
        },
        context,
      )
      if (!changed) throw new IncorrectPasswordError()
      // Changed whatever happens now: a notice that could not be handed over stays queued, and the queue logged why.
      await mail?.notify(noticeId).catch(() => undefined)
    },
  }
}
