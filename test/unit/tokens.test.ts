import { createPrivateKey, createPublicKey, type KeyObject, sign } from 'node:crypto'
import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  type JWTHeaderParameters,
  type JWTPayload,
  jwtVerify,
  SignJWT,
  UnsecuredJWT,
} from 'jose'
import { describe, expect, it } from 'vitest'
import { InvalidTokenError } from '#shared/domain/errors'
import {
  generateSigningKey,
  newSigningKeySet,
  publishedKeys,
  type SigningKey,
  type SigningKeySet,
} from '#shared/domain/signing-keys'
import { type Clock, createTokenService, type TokenKeys } from '#shared/domain/tokens'

const NOW = new Date('2026-01-01T00:00:00Z')
const NOW_SECONDS = NOW.getTime() / 1000
const ISSUER = 'https://auth.papa.test'
const AUDIENCE = 'papa-api-test'
const CLIENT_ID = 'papa-app'
const ACCESS_TTL = 900
const REFRESH_TTL = 604_800
const USER_ID = 42
const SESSION_ID = '0b9e4a52-6d1c-4c77-9d0e-2f7b0c1d5e6a'
const SUBJECT = { userId: USER_ID, sessionId: SESSION_ID, authTime: new Date(NOW_SECONDS * 1000) }

/** One set for the file (RSA key generation is slow), rotated once so that it has a previous key too. */
const FIRST: SigningKeySet = newSigningKeySet(NOW)
const KEYS: SigningKeySet = { current: FIRST.next, next: generateSigningKey(NOW), previous: FIRST.current }
/** A key of no set. */
const OUTSIDER = generateSigningKey(NOW)

/** A clock that moves only when told to. */
function frozenClock(): Clock & { advance(seconds: number): void } {
  let now = NOW
  return {
    now: () => now,
    advance: (seconds) => {
      now = new Date(now.getTime() + seconds * 1000)
    },
  }
}

function tokenService(keys: TokenKeys = { signing: KEYS, published: publishedKeys(KEYS) }) {
  const clock = frozenClock()
  const tokens = createTokenService({
    keys,
    issuer: ISSUER,
    audience: AUDIENCE,
    clientId: CLIENT_ID,
    accessTokenTtlSeconds: ACCESS_TTL,
    refreshTokenTtlSeconds: REFRESH_TTL,
    clock,
  })
  return { clock, tokens }
}

interface Forgery {
  header?: Partial<JWTHeaderParameters>
  claims?: JWTPayload
  without?: (keyof JWTPayload)[]
  key?: SigningKey
}

/** The claims the service would sign for `USER_ID` at `NOW`. */
const validClaims = (): JWTPayload => ({
  iss: ISSUER,
  aud: AUDIENCE,
  sub: String(USER_ID),
  client_id: CLIENT_ID,
  sid: SESSION_ID,
  auth_time: NOW_SECONDS,
  iat: NOW_SECONDS,
  exp: NOW_SECONDS + ACCESS_TTL,
  jti: 'forged-jti',
})

/** An access token built outside the service: as the service would sign it, but for what a test changes. */
function forge({ header, claims, without = [], key = KEYS.current }: Forgery = {}): Promise<string> {
  const payload = { ...validClaims(), ...claims }
  for (const claim of without) delete payload[claim]
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: key.kid, ...header })
    .sign(createPrivateKey(key.privateKey))
}

/**
 * A token signed RS256 by the right key, whose header names another algorithm: its signature is one the verifier's
 * RSA-SHA256 check accepts, so only the pin on `alg` refuses it (a forgery the header's algorithm would reject
 * proves nothing about the pin).
 */
function rs256UnderAlg(alg: string): string {
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const signingInput = `${encode({ alg, typ: 'at+jwt', kid: KEYS.current.kid })}.${encode(validClaims())}`
  const signature = sign('sha256', Buffer.from(signingInput), createPrivateKey(KEYS.current.privateKey))
  return `${signingInput}.${signature.toString('base64url')}`
}

/** A token whose payload was swapped for another after signing. */
async function withEditedPayload(): Promise<string> {
  const [header, , signature] = (await tokenService().tokens.issueAccessToken(SUBJECT)).split('.')
  const payload = Buffer.from(JSON.stringify({ ...validClaims(), sub: '1' })).toString('base64url')
  return [header, payload, signature].join('.')
}

/** The current key's public key as PEM: the secret an algorithm-confusion forgery would use for HS256. */
const publicPem = () =>
  createPublicKey(KEYS.current.privateKey).export({ type: 'spki', format: 'pem' }).toString()

const hs256 = (secret: string) =>
  new SignJWT(validClaims())
    .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: KEYS.current.kid })
    .sign(new TextEncoder().encode(secret))

describe('access tokens', () => {
  it('verifies an issued token to its user and session', async () => {
    const { tokens } = tokenService()
    expect(await tokens.verifyAccessToken(await tokens.issueAccessToken(SUBJECT))).toEqual(SUBJECT)
  })

  it("signs RS256 with the current key's kid, typ at+jwt and the claims of RFC 9068 (client_id) and the session", async () => {
    const { tokens } = tokenService()
    const token = await tokens.issueAccessToken(SUBJECT)

    expect(decodeProtectedHeader(token)).toEqual({ alg: 'RS256', typ: 'at+jwt', kid: KEYS.current.kid })
    expect(decodeJwt(token)).toEqual({
      iss: ISSUER,
      aud: AUDIENCE,
      sub: '42',
      client_id: CLIENT_ID,
      sid: SESSION_ID,
      auth_time: NOW_SECONDS,
      email_verified: false,
      iat: NOW_SECONDS,
      exp: NOW_SECONDS + ACCESS_TTL,
      jti: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
    })
    expect(decodeJwt(await tokens.issueAccessToken(SUBJECT)).jti).not.toBe(decodeJwt(token).jti)
  })

  it('leaves sid out of a token that names no session', async () => {
    const { tokens } = tokenService()
    const token = await tokens.issueAccessToken({ userId: USER_ID, sessionId: null })
    expect(decodeJwt(token)).not.toHaveProperty('sid')
    expect(await tokens.verifyAccessToken(token)).toEqual({
      userId: USER_ID,
      sessionId: null,
      authTime: SUBJECT.authTime,
    })
  })

  it('verifies with the published keys alone, as a function that does not sign', async () => {
    const token = await tokenService().tokens.issueAccessToken(SUBJECT)
    const verifier = tokenService({ published: publishedKeys(KEYS) }).tokens
    expect(await verifier.verifyAccessToken(token)).toEqual(SUBJECT)
  })

  it('cannot sign without the signing keys: there is no default key', async () => {
    await expect(
      tokenService({ published: publishedKeys(KEYS) }).tokens.issueAccessToken(SUBJECT),
    ).rejects.toThrow('no signing keys')
  })

  it('uses the keys its source gives now: a token of a key published later verifies once the source has it', async () => {
    const rotated: SigningKeySet = { current: KEYS.next, next: OUTSIDER, previous: KEYS.current }
    let keys: TokenKeys = { published: publishedKeys(KEYS) }
    const verifier = createTokenService({
      keys: async () => keys,
      issuer: ISSUER,
      audience: AUDIENCE,
      clientId: CLIENT_ID,
      accessTokenTtlSeconds: ACCESS_TTL,
      refreshTokenTtlSeconds: REFRESH_TTL,
      clock: frozenClock(),
    })
    const byOutsider = await forge({ key: OUTSIDER })
    await expect(verifier.verifyAccessToken(byOutsider)).rejects.toThrow(InvalidTokenError)
    keys = { published: publishedKeys(rotated) }
    expect(await verifier.verifyAccessToken(byOutsider)).toEqual(SUBJECT)
  })

  it('accepts a token until its lifetime ends and refuses it from then on', async () => {
    const { clock, tokens } = tokenService()
    const token = await tokens.issueAccessToken(SUBJECT)

    clock.advance(ACCESS_TTL - 1)
    expect(await tokens.verifyAccessToken(token)).toEqual(SUBJECT)
    clock.advance(1)
    await expect(tokens.verifyAccessToken(token)).rejects.toThrow(InvalidTokenError)
  })

  it.each<[string, SigningKey]>([
    ['current', KEYS.current],
    ['next', KEYS.next],
    ['previous', FIRST.current],
  ])(
    'accepts a token forged exactly as the service signs, with the %s key (the refusals below change one thing)',
    async (_, key) => {
      expect(await tokenService().tokens.verifyAccessToken(await forge({ key }))).toEqual(SUBJECT)
    },
  )

  it.each<[string, () => Promise<string>]>([
    [
      'signed by a key not in the set, under the kid of one that is',
      () => forge({ key: { ...OUTSIDER, kid: KEYS.current.kid } }),
    ],
    ['whose kid is not in the published set', () => forge({ key: OUTSIDER })],
    ['without a kid', () => forge({ header: { kid: undefined } })],
    ['from another issuer', () => forge({ claims: { iss: 'https://someone-else.example' } })],
    ['for another audience', () => forge({ claims: { aud: 'another-api' } })],
    ['with alg none', () => Promise.resolve(new UnsecuredJWT(validClaims()).encode())],
    ['signed HS256 with a secret', () => hs256('test-signing-secret-'.repeat(4))],
    ['signed HS256 with the public key as the secret (algorithm confusion)', () => hs256(publicPem())],
    ['signed RS512 with the right key', () => forge({ header: { alg: 'RS512' } })],
    ['signed PS256 with the right key', () => forge({ header: { alg: 'PS256' } })],
    ...['RS512', 'PS256', 'HS256', 'none', 'rs256'].map((alg): [string, () => Promise<string>] => [
      `signed RS256 by the right key under a header that says ${alg}`,
      () => Promise.resolve(rs256UnderAlg(alg)),
    ]),
    ['typed as a plain JWT', () => forge({ header: { typ: 'JWT' } })],
    ['without a typ', () => forge({ header: { typ: undefined } })],
    ['without an expiry', () => forge({ without: ['exp'] })],
    ['without a jti', () => forge({ without: ['jti'] })],
    ['without an iat', () => forge({ without: ['iat'] })],
    [
      'with an iat that is no number',
      () => forge({ claims: { iat: String(NOW_SECONDS) } as unknown as JWTPayload }),
    ],
    ['not valid yet (nbf in the future)', () => forge({ claims: { nbf: NOW_SECONDS + 60 } })],
    ['with a crit header', () => forge({ header: { b64: true, crit: ['b64'] } })],
    ['for audiences that are not ours', () => forge({ claims: { aud: ['another-api', 'a-third'] } })],
    ['without a subject', () => forge({ without: ['sub'] })],
    ['whose payload was edited', withEditedPayload],
    ['that is not a JWT', () => Promise.resolve('not-a-jwt')],
    ['that is empty', () => Promise.resolve('')],
    ['that is a refresh token', () => Promise.resolve(tokenService().tokens.issueRefreshToken().token)],
  ])('refuses a token %s', async (_, token) => {
    await expect(tokenService().tokens.verifyAccessToken(await token())).rejects.toThrow(InvalidTokenError)
  })

  it('accepts the same hand-signed token under its true alg: the forged headers differ from it by their alg only', async () => {
    expect(await tokenService().tokens.verifyAccessToken(rs256UnderAlg('RS256'))).toEqual(SUBJECT)
  })

  it('accepts an audience list that names ours, and typ in its media type form', async () => {
    const token = await forge({
      claims: { aud: ['another-api', AUDIENCE] },
      header: { typ: 'application/AT+JWT' },
    })
    expect(await tokenService().tokens.verifyAccessToken(token)).toEqual(SUBJECT)
  })

  it('verifies a token that names no session to a null session', async () => {
    expect(await tokenService().tokens.verifyAccessToken(await forge({ without: ['sid'] }))).toEqual({
      userId: USER_ID,
      sessionId: null,
      authTime: SUBJECT.authTime,
    })
  })

  it("carries the session's login as auth_time: given, or now at a login", async () => {
    const { tokens } = tokenService()
    const loggedIn = new Date((NOW_SECONDS - 5000) * 1000 + 700)
    const token = await tokens.issueAccessToken({ ...SUBJECT, authTime: loggedIn })
    expect(decodeJwt(token).auth_time).toBe(NOW_SECONDS - 5000)
    expect((await tokens.verifyAccessToken(token)).authTime).toEqual(new Date((NOW_SECONDS - 5000) * 1000))
    expect(
      decodeJwt(await tokens.issueAccessToken({ userId: USER_ID, sessionId: SESSION_ID })).auth_time,
    ).toBe(NOW_SECONDS)
  })

  it('carries email_verified (OIDC) as issued, false unless told', async () => {
    const { tokens } = tokenService()
    expect(decodeJwt(await tokens.issueAccessToken({ ...SUBJECT, emailVerified: true })).email_verified).toBe(
      true,
    )
    expect(
      decodeJwt(await tokens.issueAccessToken({ ...SUBJECT, emailVerified: false })).email_verified,
    ).toBe(false)
  })

  it('verifies a token from before auth_time existed to no login time; refuses one that is not a time', async () => {
    expect(
      (await tokenService().tokens.verifyAccessToken(await forge({ without: ['auth_time'] }))).authTime,
    ).toBeNull()
    for (const auth_time of ['1700000000', -1, 1.5])
      await expect(
        tokenService().tokens.verifyAccessToken(await forge({ claims: { auth_time } as JWTPayload })),
      ).rejects.toThrow(InvalidTokenError)
  })

  it.each([42, 'not-a-uuid', '', '0B9E4A52-6D1C-4C77-9D0E-2F7B0C1D5E6A'])(
    'refuses a session claim of %j, which is no session id the service issues',
    async (sid) => {
      await expect(
        tokenService().tokens.verifyAccessToken(await forge({ claims: { sid } as JWTPayload })),
      ).rejects.toThrow(InvalidTokenError)
    },
  )

  it.each(['01', '1.5', '-1', '0', '1e3', ' 1', 'abc', '9007199254740993'])(
    'refuses a subject of "%s", which is no canonical user id',
    async (sub) => {
      await expect(tokenService().tokens.verifyAccessToken(await forge({ claims: { sub } }))).rejects.toThrow(
        InvalidTokenError,
      )
    },
  )
})

describe('refresh tokens', () => {
  it('issues 256 random bits in base64url, with their hash and an expiry one TTL away', () => {
    const { tokens } = tokenService()
    const issued = tokens.issueRefreshToken()

    expect(issued).toEqual({
      token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      hash: tokens.hashRefreshToken(issued.token),
      expiresAt: new Date(NOW.getTime() + REFRESH_TTL * 1000),
    })
    expect(Buffer.from(issued.token, 'base64url')).toHaveLength(32)
    expect(tokens.issueRefreshToken().token).not.toBe(issued.token)
  })

  it('hashes a token with SHA-256 in base64url, the same way every time', () => {
    // SHA-256("abc"), FIPS 180-2 appendix B.1, in base64url.
    const expected = 'ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0'
    expect(tokenService().tokens.hashRefreshToken('abc')).toBe(expected)
    expect(tokenService().tokens.hashRefreshToken('abc')).toBe(expected)
  })
})

/**
 * The verifier checks signatures with node:crypto on the event loop (jose's WebCrypto hands each check to the libuv
 * pool and back), and the claims itself: this holds it to jose's own `jwtVerify` with the options it replaced, token
 * by token, over the forgeries a verifier must refuse and the variants it must accept.
 */
describe('access-token verification agrees with jose’s jwtVerify', () => {
  const published = createLocalJWKSet({ keys: publishedKeys(KEYS).map((jwk) => ({ ...jwk })) })
  const knownKids = new Set(publishedKeys(KEYS).map((jwk) => jwk.kid))
  const byJose = async (token: string) => {
    try {
      await jwtVerify(
        token,
        (header, input) => {
          if (typeof header.kid !== 'string' || !knownKids.has(header.kid)) throw new Error('unknown kid')
          return published(header, input)
        },
        {
          algorithms: ['RS256'],
          issuer: ISSUER,
          audience: AUDIENCE,
          typ: 'at+jwt',
          requiredClaims: ['exp', 'iat', 'sub', 'jti'],
          currentDate: NOW,
        },
      )
      return true
    } catch {
      return false
    }
  }
  const byService = async (token: string) => {
    try {
      await tokenService().tokens.verifyAccessToken(token)
      return true
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidTokenError)
      return false
    }
  }
  const signedWith = (alg: string, key: KeyObject | Uint8Array, header: Partial<JWTHeaderParameters> = {}) =>
    new SignJWT(validClaims())
      .setProtectedHeader({ alg, typ: 'at+jwt', kid: KEYS.current.kid, ...header })
      .sign(key)
  const privateKey = () => createPrivateKey(KEYS.current.privateKey)
  const cases: [string, () => Promise<string>][] = [
    ['a valid token', () => forge()],
    ['signed by the next key', () => forge({ key: KEYS.next })],
    ['signed by the previous key', () => forge({ key: KEYS.previous as SigningKey })],
    ['an audience list with ours', () => forge({ claims: { aud: ['x', AUDIENCE] } })],
    ['typ in media-type form', () => forge({ header: { typ: 'application/at+jwt' } })],
    ['typ upper case', () => forge({ header: { typ: 'AT+JWT' } })],
    ['nbf now', () => forge({ claims: { nbf: NOW_SECONDS } })],
    ['nbf in the future', () => forge({ claims: { nbf: NOW_SECONDS + 1 } })],
    ['exp now', () => forge({ claims: { exp: NOW_SECONDS } })],
    ['exp a second ahead', () => forge({ claims: { exp: NOW_SECONDS + 1 } })],
    ['exp as a string', () => forge({ claims: { exp: String(NOW_SECONDS + 60) } as unknown as JWTPayload })],
    ['iat in the future', () => forge({ claims: { iat: NOW_SECONDS + 3600 } })],
    ['no iat', () => forge({ without: ['iat'] })],
    ['no jti', () => forge({ without: ['jti'] })],
    ['no sub', () => forge({ without: ['sub'] })],
    ['no exp', () => forge({ without: ['exp'] })],
    ['another issuer', () => forge({ claims: { iss: `${ISSUER}/other` } })],
    ['another audience', () => forge({ claims: { aud: 'other' } })],
    ['typ JWT', () => forge({ header: { typ: 'JWT' } })],
    ['no typ', () => forge({ header: { typ: undefined } })],
    ['an unknown kid', () => forge({ header: { kid: 'unknown' } })],
    ['no kid', () => forge({ header: { kid: undefined } })],
    ['a key of no set under a known kid', () => forge({ key: OUTSIDER, header: { kid: KEYS.current.kid } })],
    ['RS384 with the right key', () => signedWith('RS384', privateKey())],
    ['RS512 with the right key', () => signedWith('RS512', privateKey())],
    ['PS256 with the right key', () => signedWith('PS256', privateKey())],
    ['HS256 keyed with the public key', () => signedWith('HS256', new TextEncoder().encode(publicPem()))],
    ['alg none', () => Promise.resolve(new UnsecuredJWT(validClaims()).encode())],
    ['a crit header (refused here, stricter)', () => forge({ header: { b64: true, crit: ['b64'] } })],
    ['an edited payload', withEditedPayload],
    [
      'a signature cut short',
      async () => {
        const token = await forge()
        return token.slice(0, -8)
      },
    ],
    ['two parts', async () => (await forge()).split('.').slice(0, 2).join('.')],
    ['a trailing dot', async () => `${await forge()}.`],
    ['padding in the signature (refused here, stricter)', async () => `${await forge()}==`],
    ['not base64url in the header', async () => `!${await forge()}`],
  ]

  // Where this verifier is stricter than jose, on purpose: the service sets no `crit` header (jose understands `b64`
  // and accepts it), and a JWS part is base64url without padding (RFC 7515 §2; jose tolerates `=`).
  const stricter = (name: string) => name.endsWith('(refused here, stricter)')

  it.each(cases)('%s', async (name, make) => {
    const token = await make()
    if (stricter(name)) {
      expect(await byJose(token)).toBe(true)
      expect(await byService(token)).toBe(false)
    } else {
      expect(await byService(token)).toBe(await byJose(token))
    }
  })

  it('accepts what it should and refuses the rest (the table is not all one answer)', async () => {
    const answers = await Promise.all(cases.map(async ([, make]) => byJose(await make())))
    expect(answers.filter(Boolean).length).toBeGreaterThanOrEqual(6)
    expect(answers.filter((accepted) => !accepted).length).toBeGreaterThanOrEqual(20)
  })
})
