import { describe, expect, it } from 'vitest'
import { ConfigError, INTEGER_SETTINGS, loadConfig, type Need, TEXT_DEFAULTS } from '#shared/platform/config'

/** Inline keys as `loadConfig` sees them: present or not (the container parses them). */
const KEYS = '{"current":"…"}'

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://db', JWT_SIGNING_KEYS: KEYS })).toMatchObject({
      BCRYPT_COST: 12,
      ACCESS_TOKEN_TTL_SECONDS: 900,
      REFRESH_TOKEN_TTL_SECONDS: 604_800,
      JWT_ISSUER: 'papa-auth',
      DATABASE_CONNECT_TIMEOUT_MS: 3000,
    })
  })

  it('fails listing every problem at once', () => {
    try {
      loadConfig({ BCRYPT_COST: '9' })
      expect.unreachable()
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError)
      expect((error as ConfigError).problems).toEqual([
        'BCRYPT_COST: BCRYPT_COST must be at least 10',
        'DATABASE_URL or DATABASE_SECRET_ARN is required',
        'JWT_PUBLIC_KEYS or JWT_PUBLIC_KEYS_SECRET_ARN (or the signing keys) is required',
      ])
    }
  })

  it('has no signing secret any more: a JWT_SECRET is not read, and meets no need', () => {
    const env = { DATABASE_URL: 'postgres://db', JWT_SECRET: 'x'.repeat(48) }
    expect(loadConfig(env, ['database'])).not.toHaveProperty('JWT_SECRET')
    expect(problemsOf(env)).toEqual([
      'JWT_PUBLIC_KEYS or JWT_PUBLIC_KEYS_SECRET_ARN (or the signing keys) is required',
    ])
  })

  it('refuses a bcrypt cost above 14', () => {
    expect(() =>
      loadConfig({ DATABASE_URL: 'postgres://db', JWT_SIGNING_KEYS: KEYS, BCRYPT_COST: '15' }),
    ).toThrow(/at most 14/)
  })

  it('asks each function only for what it needs', () => {
    expect(() => loadConfig({ DATABASE_URL: 'postgres://db' }, ['database'])).not.toThrow()
    expect(() => loadConfig({ DATABASE_URL: 'postgres://db' }, ['database', 'admin'])).toThrow(
      /ADMIN_PASSWORD.*ADMIN_EMAIL/,
    )
  })
})

const BASE = { DATABASE_URL: 'postgres://db', JWT_SIGNING_KEYS: KEYS }

/** The error `loadConfig` refuses an environment with. */
function refusalOf(env: Record<string, string>, needs?: readonly Need[]): ConfigError {
  try {
    loadConfig(env, needs)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return error as ConfigError
  }
  return expect.unreachable('the configuration was accepted')
}

const problemsOf = (env: Record<string, string>, needs?: readonly Need[]) => refusalOf(env, needs).problems

type IntegerSettingName = keyof typeof INTEGER_SETTINGS
const INTEGERS = Object.entries(INTEGER_SETTINGS) as [
  IntegerSettingName,
  (typeof INTEGER_SETTINGS)[IntegerSettingName],
][]

describe('loadConfig, integer settings', () => {
  it('takes every default when nothing is set', () => {
    expect(loadConfig(BASE)).toEqual({
      ...BASE,
      ...TEXT_DEFAULTS,
      ...Object.fromEntries(INTEGERS.map(([name, setting]) => [name, setting.default])),
    })
  })

  it.each(INTEGERS)('accepts %s at its minimum and its maximum', (name, { min, max }) => {
    expect(loadConfig({ ...BASE, [name]: String(min) })[name]).toBe(min)
    expect(loadConfig({ ...BASE, [name]: String(max) })[name]).toBe(max)
  })

  it.each(
    INTEGERS.flatMap(([name, { min, max }]) => [
      [name, String(min - 1), `${name} must be at least ${min}`],
      [name, String(max + 1), `${name} must be at most ${max}`],
      [name, `${min}.5`, `${name} must be a whole number`],
    ]),
  )('refuses %s=%s', (name, value, problem) => {
    expect(problemsOf({ ...BASE, [name]: value })).toEqual([`${name}: ${problem}`])
  })

  it.each(['', ' 12', '12 ', '1e1', '0x0c', 'twelve', '12abc'])('refuses "%s" as a whole number', (value) => {
    expect(problemsOf({ ...BASE, BCRYPT_COST: value })).toEqual([
      'BCRYPT_COST: BCRYPT_COST must be a whole number',
    ])
  })
})

describe('loadConfig, problems', () => {
  it('lists every problem at once, without echoing a received value', () => {
    const env = {
      DATABASE_POOL_MAX: 'pool-hunter2',
      BCRYPT_COST: '987654321',
      LOGIN_WINDOW_SECONDS: 'soon-hunter2',
      ADMIN_PASSWORD: 'admin-hunter2',
    }
    const { problems, message } = refusalOf(env, ['database', 'signingKeys', 'admin'])

    expect(problems).toEqual([
      'DATABASE_POOL_MAX: DATABASE_POOL_MAX must be a whole number',
      'BCRYPT_COST: BCRYPT_COST must be at most 14',
      'LOGIN_WINDOW_SECONDS: LOGIN_WINDOW_SECONDS must be a whole number',
      'DATABASE_URL or DATABASE_SECRET_ARN is required',
      'JWT_SIGNING_KEYS or JWT_SIGNING_KEYS_SECRET_ARN is required',
      'ADMIN_EMAIL is required',
    ])
    for (const value of Object.values(env)) expect(message).not.toContain(value)
  })

  it.each<[Need, string[]]>([
    ['database', ['DATABASE_URL or DATABASE_SECRET_ARN is required']],
    ['signingKeys', ['JWT_SIGNING_KEYS or JWT_SIGNING_KEYS_SECRET_ARN is required']],
    ['publicKeys', ['JWT_PUBLIC_KEYS or JWT_PUBLIC_KEYS_SECRET_ARN (or the signing keys) is required']],
    ['admin', ['ADMIN_PASSWORD or ADMIN_PASSWORD_SECRET_ARN is required', 'ADMIN_EMAIL is required']],
  ])('reports what the %s need lacks', (need, problems) => {
    expect(problemsOf({}, [need])).toEqual(problems)
  })

  it.each<[Need, Record<string, string>]>([
    ['database', { DATABASE_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db' }],
    [
      'signingKeys',
      { JWT_SIGNING_KEYS_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:sk' },
    ],
    ['publicKeys', { JWT_PUBLIC_KEYS_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pk' }],
    [
      'admin',
      {
        ADMIN_EMAIL: 'admin@example.com',
        ADMIN_PASSWORD_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:1:secret:a',
      },
    ],
  ])('meets the %s need with a Secrets Manager ARN', (need, env) => {
    expect(loadConfig(env, [need])).toMatchObject(env)
  })

  it.each<[string, Record<string, string>]>([
    ['inline', { JWT_PUBLIC_KEYS: '{"keys":[]}' }],
    ['derived from the inline signing keys', { JWT_SIGNING_KEYS: KEYS }],
    [
      'derived from the signing keys of a secret',
      { JWT_SIGNING_KEYS_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:1:secret:sk' },
    ],
  ])('meets the publicKeys need with public keys %s', (_, env) => {
    expect(loadConfig(env, ['publicKeys'])).toMatchObject(env)
  })

  it('does not meet the signingKeys need with public keys: a function that signs needs the private ones', () => {
    expect(problemsOf({ JWT_PUBLIC_KEYS: '{"keys":[]}' }, ['signingKeys'])).toEqual([
      'JWT_SIGNING_KEYS or JWT_SIGNING_KEYS_SECRET_ARN is required',
    ])
  })

  it('needs nothing when a function asks for nothing', () => {
    expect(loadConfig({}, [])).toMatchObject(TEXT_DEFAULTS)
  })
})

describe('loadConfig, text settings', () => {
  it('takes TEXT_DEFAULTS as the issuer and audience, and a configured value over them', () => {
    expect(loadConfig(BASE)).toMatchObject({
      JWT_ISSUER: TEXT_DEFAULTS.JWT_ISSUER,
      JWT_AUDIENCE: TEXT_DEFAULTS.JWT_AUDIENCE,
    })
    expect(
      loadConfig({ ...BASE, JWT_ISSUER: ' https://auth.example.com ', JWT_AUDIENCE: 'api' }),
    ).toMatchObject({
      JWT_ISSUER: 'https://auth.example.com',
      JWT_AUDIENCE: 'api',
    })
  })
})
