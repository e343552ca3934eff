import { ApiError, errorOf } from './errors.ts'
import type {
  AccountDeletion,
  AccountDeletionAccepted,
  AccountDeletionConfirm,
  AccountDeletionRequest,
  AccountExport,
  EmailChange,
  EmailChangeAccepted,
  EmailChangeConfirm,
  EmailVerificationAccepted,
  EmailVerificationConfirm,
  EmailVerificationRequest,
  PasswordChange,
  PasswordResetAccepted,
  PasswordResetConfirm,
  PasswordResetRequest,
  Paths,
  Preferences,
  PreferencesUpdate,
  SessionList,
  Token,
  User,
  UserCreate,
  UserLogin,
} from './openapi.ts'
import { memoryStorage, type TokenStorage } from './storage.ts'

export interface AuthClientOptions {
  /**
   * The API's origin, e.g. `http://127.0.0.1:3000`; `''` (the default) for the page's own, behind a dev-server proxy
   * or on one domain. The paths are the document's: `/api/v1/...`.
   */
  baseUrl?: string
  /** Where the session is kept: memory (the default), `localStorage`, or the app's own storage. */
  storage?: TokenStorage
  /** Names the stored item, the cross-tab lock and the channel: two clients of one origin with one name share a session. */
  name?: string
  /** The `fetch` to call the API with; the global one by default. */
  fetch?: (input: string | URL | Request, init?: RequestInit) => Promise<Response>
  /** Refresh when the access token has less than this left (at most half its lifetime); 30 by default. */
  refreshMarginSeconds?: number
  /**
   * The API's `REFRESH_TOKEN_REUSE_INTERVAL_SECONDS` (10 by default): a refresh whose answer was lost is sent again
   * within it, when the API still answers it with a pair of the same session. 0: never sent again.
   */
  reuseIntervalSeconds?: number
}

/** Why the session ended: this client's logout, the API refusing its refresh token, or the account deleted. */
export type SignedOutReason = 'logout' | 'expired' | 'deleted'

/** What the client tells the app, in every tab that shares the session. */
export interface AuthEvents {
  /** A session began here or in another tab. */
  signedIn: undefined
  /** The session ended here or in another tab; the next call needs a login. */
  signedOut: { reason: SignedOutReason }
}

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete'

/** The inputs an operation takes: `path` parameters, a `query` (an `undefined` value is left out), a JSON `body` or a `form`. */
export type RequestInput<Operation> = (Operation extends { path: infer T } ? { path: T } : unknown) &
  (Operation extends { query: infer T } ? { query?: { [K in keyof T]?: T[K] | undefined } } : unknown) &
  (Operation extends { body: infer T } ? { body: T } : unknown) &
  (Operation extends { form: infer T } ? { form: T } : unknown)

/** The body of an operation's success: `undefined` for a 204. */
export type ResponseBody<Operation> = Operation extends { responses: infer R }
  ? R[Extract<keyof R, 200 | 201 | 202 | 204>]
  : never

type Arguments<Operation> =
  Record<string, never> extends RequestInput<Operation>
    ? [input?: RequestInput<Operation>]
    : [input: RequestInput<Operation>]

export interface AuthClient {
  /** `POST /auth/register`: the new account; it is not logged in. */
  register(body: UserCreate): Promise<User>
  /** `POST /auth/login`: keeps the new session. */
  login(body: UserLogin): Promise<void>
  /** `POST /auth/token`, the OAuth 2.0 password grant (a form): keeps the new session, as `login`. */
  passwordGrant(form: { username: string; password: string }): Promise<void>
  /** `POST /auth/logout`: the session ends here at once, in every tab, then at the API. */
  logout(): Promise<void>
  /** `GET /users/me`. */
  me(): Promise<User>
  /** `POST /users/me/password`: every other session ends; this one is kept. */
  changePassword(body: PasswordChange): Promise<void>
  /** `GET /users/me/sessions`: the live sessions, `current` marking this one. */
  sessions(): Promise<SessionList>
  /** `DELETE /users/me/sessions/{id}`. */
  endSession(id: string): Promise<void>
  /** `DELETE /users/me/sessions`: every session, this one too. */
  endAllSessions(): Promise<void>
  /** `POST /auth/password-reset`: one fixed answer for any email. */
  requestPasswordReset(body: PasswordResetRequest): Promise<PasswordResetAccepted>
  /** `POST /auth/password-reset/confirm` with the mailed link's token: every session of the account ends. */
  confirmPasswordReset(body: PasswordResetConfirm): Promise<void>
  /** `POST /auth/email-verification`: one fixed answer for any email. */
  requestEmailVerification(body: EmailVerificationRequest): Promise<EmailVerificationAccepted>
  /** `POST /auth/email-verification/confirm` with the mailed code. */
  confirmEmailVerification(body: EmailVerificationConfirm): Promise<User>
  /** `POST /users/me/email`: a code goes to the new address; nothing changes yet. */
  requestEmailChange(body: EmailChange): Promise<EmailChangeAccepted>
  /** `POST /users/me/email/confirm`: every other session ends. */
  confirmEmailChange(body: EmailChangeConfirm): Promise<User>
  /** `DELETE /users/me`: the account is erased and the session ends, in every tab. */
  deleteAccount(body: AccountDeletion): Promise<void>
  /** `POST /auth/account-deletion`: one fixed answer for any email. */
  requestAccountDeletion(body: AccountDeletionRequest): Promise<AccountDeletionAccepted>
  /** `POST /auth/account-deletion/confirm` with the mailed link's token. */
  confirmAccountDeletion(body: AccountDeletionConfirm): Promise<void>
  /** `GET /users/me/export`: the account's data. */
  exportAccount(): Promise<AccountExport>
  /** `GET /users/me/preferences`: the student's exam board and subjects (defaults until first saved). */
  preferences(): Promise<Preferences>
  /** `PUT /users/me/preferences`: replaces them whole. */
  savePreferences(body: PreferencesUpdate): Promise<Preferences>
  /**
   * Any operation of the API, typed by the document: the admin routes, health, the keys. The access token goes with
   * `/users/...`, `/admin/...` and `/auth/claims`, as `fetch` sends it. An error status throws `ApiError`.
   */
  request<P extends keyof Paths, M extends Method & keyof Paths[P]>(
    method: M,
    path: P,
    ...input: Arguments<Paths[P][M]>
  ): Promise<ResponseBody<Paths[P][M]>>
  /**
   * `fetch` for the app's own APIs: adds the access token (refreshed first when it is about to expire), and on a 401
   * refreshes it once and sends the request once more. Answers as `fetch` does; throws `ApiError` (401) when signed out.
   */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>
  /** A valid access token (refreshed when about to expire), or `undefined` when signed out. */
  accessToken(): Promise<string | undefined>
  /** Refreshes the session now (once, with other tabs); `false` when signed out. */
  refresh(): Promise<boolean>
  isSignedIn(): Promise<boolean>
  /** Listens to an event; returns the function that stops listening. */
  on<E extends keyof AuthEvents>(event: E, listener: (detail: AuthEvents[E]) => void): () => void
  /** Stops listening to other tabs. */
  close(): void
}

/** What is stored: the pair, and when to refresh its access token. */
interface Session {
  access_token: string
  refresh_token: string
  refresh_at: number
}

/** What is stored once the session ended: why, so that every tab tells its app the same. */
interface Ended {
  ended: SignedOutReason
}

interface Locks {
  request<T>(name: string, task: () => Promise<T>): Promise<T>
  request<T>(
    name: string,
    options: { ifAvailable: true },
    task: (lock: object | null) => Promise<T>,
  ): Promise<T>
}

interface Channel {
  onmessage: (() => void) | null
  postMessage(message: number): void
  close(): void
  unref?(): void
}

type Global = {
  navigator?: { locks?: Locks }
  BroadcastChannel?: new (name: string) => Channel
  addEventListener?(type: 'storage', listener: (event: { key: string | null }) => void): void
  removeEventListener?(type: 'storage', listener: (event: { key: string | null }) => void): void
}

/** The routes a session's access token goes to: the document's secured ones (test/unit/client-types.test.ts). */
const SECURED = /^\/api\/v1\/(users|admin)\/|\/claims$/
const JSON_TYPE = { 'content-type': 'application/json' }

// Encoded by hand: React Native's URLSearchParams takes no list of pairs.
const encoded = (values: object = {}) =>
  Object.entries(values)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(String(value))}`)
    .join('&')

const pause = (milliseconds: number) => new Promise((done) => setTimeout(done, milliseconds))

/** A client of the API that holds one session, shared by every tab of the origin that uses the same storage. */
export function createAuthClient(options: AuthClientOptions = {}): AuthClient {
  const {
    baseUrl = '',
    storage = memoryStorage(),
    name = 'papa-auth',
    fetch: send = (input, init) => fetch(input, init),
    refreshMarginSeconds = 30,
    reuseIntervalSeconds = 10,
  } = options
  const key = `${name}.session`
  const reuseMs = reuseIntervalSeconds * 1000
  const global = globalThis as Global
  const locks = global.navigator?.locks
  const listeners: { [E in keyof AuthEvents]: Set<(detail: AuthEvents[E]) => void> } = {
    signedIn: new Set(),
    signedOut: new Set(),
  }
  let signedIn: boolean | undefined
  let refreshing: Promise<Session | null> | undefined

  const emit = <E extends keyof AuthEvents>(event: E, detail: AuthEvents[E]) => {
    // Each listener on its own: one that throws reaches the app's error handler and stops nothing here.
    for (const listener of listeners[event]) queueMicrotask(() => listener(detail))
  }

  /** Tells the app when the session came or went since this client last looked. */
  const notice = (session: Session | null, reason: SignedOutReason) => {
    const now = session !== null
    if (signedIn === !now) {
      if (now) emit('signedIn', undefined)
      else emit('signedOut', { reason })
    }
    signedIn = now
  }

  // Storage is the one source of truth, read before every use: another tab may have refreshed or ended the session.
  const read = async (): Promise<Session | null> => {
    let item: Partial<Session & Ended> | null = null
    try {
      item = JSON.parse((await storage.getItem(key)) ?? 'null')
    } catch {
      // An unreadable item is no session.
    }
    const session = item?.refresh_token ? (item as Session) : null
    notice(session, item?.ended ?? 'logout')
    return session
  }

  // The other tabs look at the storage when it changes: localStorage's storage event says when a tab sees the change
  // (a moment after the write), BroadcastChannel says so for a storage without events (an app's IndexedDB).
  const Broadcast = global.BroadcastChannel
  const channel = Broadcast ? new Broadcast(name) : undefined
  const onStorage = (event: { key: string | null }) => {
    if (event.key === key || event.key === null) void read()
  }
  if (channel) {
    channel.onmessage = () => void read()
    // Node: the channel must not keep a script alive.
    channel.unref?.()
  }
  global.addEventListener?.('storage', onStorage)
  void read()

  const save = async (session: Session | null, reason: SignedOutReason = 'logout') => {
    const ended: Ended = { ended: reason }
    await storage.setItem(key, JSON.stringify(session ?? ended))
    notice(session, reason)
    channel?.postMessage(1)
    return session
  }

  const sessionOf = (pair: Token): Session => ({
    access_token: pair.access_token,
    refresh_token: pair.refresh_token,
    refresh_at:
      Date.now() + pair.expires_in * 1000 - Math.min(refreshMarginSeconds * 1000, pair.expires_in * 500),
  })

  /**
   * One task at a time across the tabs of the origin (Web Locks); only this page's single flight without them. The
   * task is told whether another tab held the lock first.
   */
  const exclusive = <T>(task: (waited: boolean) => Promise<T>): Promise<T> => {
    const lock = `${name}.refresh`
    return locks
      ? locks.request(lock, { ifAvailable: true }, (free) =>
          free ? task(false) : locks.request(lock, () => task(true)),
        )
      : task(false)
  }

  /**
   * Presents the refresh token. A lost answer (a network error, or no answer in half the interval) is sent again
   * while the API would still answer it with a pair of the same session: within the reuse interval of the first send,
   * less a second for the journey. A 401 ends the session.
   */
  const rotate = async (refreshToken: string): Promise<Session | null> => {
    const deadline = Date.now() + reuseMs - 1000
    for (let wait = 250; ; wait *= 2) {
      let failure: unknown
      try {
        const answer = await send(`${baseUrl}/api/v1/auth/refresh`, {
          method: 'POST',
          headers: JSON_TYPE,
          body: JSON.stringify({ refresh_token: refreshToken }),
          // React Native has no AbortSignal.timeout: there, no attempt is cut short.
          ...(reuseMs > 0 && 'timeout' in AbortSignal ? { signal: AbortSignal.timeout(reuseMs / 2) } : {}),
        })
        if (answer.ok) {
          const session = sessionOf(await answer.json())
          // A tab without Web Locks may have logged out meanwhile: the new pair does not bring the session back.
          return (await read()) ? await save(session) : null
        }
        if (answer.status === 401) return await save(null, 'expired')
        failure = await errorOf(answer)
        if (answer.status < 500) throw failure
      } catch (error) {
        if (error === failure) throw error
        failure = error
      }
      if (Date.now() + wait > deadline) throw failure
      await pause(wait)
    }
  }

  /**
   * A newer pair than `from`: one refresh at a time in this page; across tabs, the one that waited for the lock finds
   * the pair another tab stored meanwhile, and presents nothing. localStorage shows another tab's write a moment
   * after it (a storage event says when): a tab that waited for the lock looks again for up to a second before it
   * presents the token itself (which, within the reuse interval, the API would answer all the same).
   */
  const refresh = (from: Session): Promise<Session | null> =>
    (refreshing ??= exclusive(async (waited) => {
      let current = await read()
      for (let look = 0; waited && look < 40 && current?.refresh_token === from.refresh_token; look++) {
        await pause(25)
        current = await read()
      }
      return current?.refresh_token === from.refresh_token ? rotate(from.refresh_token) : current
    }).finally(() => {
      refreshing = undefined
    }))

  /** The access token to send; with `refused`, one newer than the token the API just refused. */
  const accessToken = async (refused?: string): Promise<string | undefined> => {
    const session = await read()
    if (!session) return undefined
    const stale = refused === undefined ? Date.now() >= session.refresh_at : session.access_token === refused
    return stale ? (await refresh(session))?.access_token : session.access_token
  }

  const authorized = async (attempt: (token: string) => Promise<Response>): Promise<Response> => {
    const token = await accessToken()
    if (!token) throw new ApiError(401, { detail: 'Not authenticated' })
    const answer = await attempt(token)
    // An admin route's "log in again" (RFC 9470) is not fixed by a refresh.
    if (
      answer.status !== 401 ||
      /insufficient_user_authentication/.test(answer.headers.get('www-authenticate') ?? '')
    )
      return answer
    const renewed = await accessToken(token)
    return renewed && renewed !== token ? attempt(renewed) : answer
  }

  const call = async (
    method: string,
    path: string,
    input: { path?: object; query?: object; body?: unknown; form?: object } = {},
  ): Promise<unknown> => {
    const query = encoded(input.query)
    const url = `${baseUrl}${path.replace(/\{(\w+)\}/g, (_, name: string) =>
      encodeURIComponent(String((input.path as Record<string, unknown>)[name])),
    )}${query && `?${query}`}`
    const headers: Record<string, string> = input.form
      ? { 'content-type': 'application/x-www-form-urlencoded' }
      : input.body === undefined
        ? {}
        : JSON_TYPE
    const body = input.form
      ? encoded(input.form)
      : input.body === undefined
        ? undefined
        : JSON.stringify(input.body)
    const attempt = (token?: string) =>
      send(url, {
        method: method.toUpperCase(),
        headers: token ? { ...headers, authorization: `Bearer ${token}` } : headers,
        ...(body === undefined ? {} : { body }),
      })
    const answer = SECURED.test(path) ? await authorized(attempt) : await attempt()
    if (!answer.ok) throw await errorOf(answer)
    return answer.status === 204 ? undefined : answer.json()
  }
  const request = call as AuthClient['request']

  const keep = async (pair: Token) => {
    await save(sessionOf(pair))
  }
  const end = (reason: SignedOutReason) => async () => {
    await save(null, reason)
  }

  return {
    register: (body) => request('post', '/api/v1/auth/register', { body }),
    login: (body) => request('post', '/api/v1/auth/login', { body }).then(keep),
    passwordGrant: (form) =>
      request('post', '/api/v1/auth/token', { form: { grant_type: 'password', ...form } }).then(keep),
    // Under the lock: a refresh under way in any tab finishes first, and the token ended is the newest.
    logout: () =>
      exclusive(async () => {
        const session = await read()
        if (!session) return
        await save(null, 'logout')
        await request('post', '/api/v1/auth/logout', { body: { refresh_token: session.refresh_token } })
      }),
    me: () => request('get', '/api/v1/users/me'),
    changePassword: (body) => request('post', '/api/v1/users/me/password', { body }),
    sessions: () => request('get', '/api/v1/users/me/sessions'),
    endSession: (id) => request('delete', '/api/v1/users/me/sessions/{id}', { path: { id } }),
    endAllSessions: () => request('delete', '/api/v1/users/me/sessions').then(end('logout')),
    requestPasswordReset: (body) => request('post', '/api/v1/auth/password-reset', { body }),
    confirmPasswordReset: (body) => request('post', '/api/v1/auth/password-reset/confirm', { body }),
    requestEmailVerification: (body) => request('post', '/api/v1/auth/email-verification', { body }),
    confirmEmailVerification: (body) => request('post', '/api/v1/auth/email-verification/confirm', { body }),
    requestEmailChange: (body) => request('post', '/api/v1/users/me/email', { body }),
    confirmEmailChange: (body) => request('post', '/api/v1/users/me/email/confirm', { body }),
    deleteAccount: (body) => request('delete', '/api/v1/users/me', { body }).then(end('deleted')),
    requestAccountDeletion: (body) => request('post', '/api/v1/auth/account-deletion', { body }),
    confirmAccountDeletion: (body) => request('post', '/api/v1/auth/account-deletion/confirm', { body }),
    exportAccount: () => request('get', '/api/v1/users/me/export'),
    preferences: () => request('get', '/api/v1/users/me/preferences'),
    savePreferences: (body) => request('put', '/api/v1/users/me/preferences', { body }),
    request,
    fetch: (input, init) => {
      const original = new Request(input, init)
      return authorized((token) => {
        const copy = original.clone()
        copy.headers.set('authorization', `Bearer ${token}`)
        return send(copy)
      })
    },
    accessToken: () => accessToken(),
    refresh: async () => {
      const session = await read()
      return session !== null && (await refresh(session)) !== null
    },
    isSignedIn: async () => (await read()) !== null,
    on: (event, listener) => {
      listeners[event].add(listener)
      return () => listeners[event].delete(listener)
    },
    close: () => {
      channel?.close()
      global.removeEventListener?.('storage', onStorage)
    },
  }
}
