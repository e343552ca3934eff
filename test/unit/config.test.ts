import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '#shared/platform/config'

const SECRET = 'x'.repeat(32)

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://db', JWT_SECRET: SECRET })).toMatchObject({
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
        'JWT_SECRET or JWT_SECRET_ARN is required',
      ])
    }
  })

  it('refuses a signing secret under 32 bytes, without echoing it', () => {
    expect(() => loadConfig({ DATABASE_URL: 'postgres://db', JWT_SECRET: 'short-secret' })).toThrow(
      /at least 32 bytes/,
    )
    try {
      loadConfig({ DATABASE_URL: 'postgres://db', JWT_SECRET: 'short-secret' })
    } catch (error) {
      expect((error as Error).message).not.toContain('short-secret')
    }
  })

  it('refuses a bcrypt cost above 14', () => {
    expect(() =>
      loadConfig({ DATABASE_URL: 'postgres://db', JWT_SECRET: SECRET, BCRYPT_COST: '15' }),
    ).toThrow(/at most 14/)
  })

  it('asks each function only for what it needs', () => {
    expect(() => loadConfig({ DATABASE_URL: 'postgres://db' }, ['database'])).not.toThrow()
    expect(() => loadConfig({ DATABASE_URL: 'postgres://db' }, ['database', 'admin'])).toThrow(
      /ADMIN_PASSWORD.*ADMIN_EMAIL/,
    )
  })
})
