import { eq } from 'drizzle-orm'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { users } from '#db/schema'
import { handler as login } from '#functions/login'
import { handler as me } from '#functions/me'
import { handler as register } from '#functions/register'
import { handler as seedAdmin } from '#functions/seed-admin'
import { superuserOn, testDatabase } from '#test/helpers/database'
import { bearerEvent, invoke, jsonEvent, uniqueEmail } from '#test/helpers/events'

const database = testDatabase()
afterAll(() => database.close())
afterEach(() => {
  vi.unstubAllEnvs()
  vi.restoreAllMocks()
})

describe('seed-admin', () => {
  it('creates the superuser once, then leaves it as it is, and says which', async () => {
    const email = uniqueEmail('Admin').toUpperCase()
    const password = 'an admin password'
    vi.stubEnv('ADMIN_EMAIL', email)
    vi.stubEnv('ADMIN_PASSWORD', password)
    const stdout = vi.spyOn(process.stdout, 'write')

    expect(await seedAdmin()).toMatchObject({ outcome: 'created', email: email.toLowerCase() })
    vi.stubEnv('ADMIN_PASSWORD', 'a different password')
    expect(await seedAdmin()).toMatchObject({ outcome: 'exists', email: email.toLowerCase() })

    const logged = stdout.mock.calls.map(([line]) => String(line)).join('')
    expect(logged).toContain('admin created')
    expect(logged).toContain('left unchanged')
    expect(logged).not.toContain(password)
    expect(logged).not.toContain('a different password')

    const tokens = await invoke(login, jsonEvent('/api/v1/auth/login', { email, password }))
    expect(tokens.status).toBe(200)
    const profile = await invoke(
      me,
      bearerEvent('/api/v1/users/me', (tokens.body as { access_token: string }).access_token),
    )
    expect(profile.body).toMatchObject({ email: email.toLowerCase(), is_superuser: true, is_active: true })
    const rows = await database.db.select().from(users).where(eq(users.email, email.toLowerCase()))
    expect(rows).toHaveLength(1)
  })

  it('fails with a clear reason, and changes nothing, when someone registered the admin email first', async () => {
    const email = uniqueEmail('squatted')
    const registered = await invoke(
      register,
      jsonEvent('/api/v1/auth/register', { email, password: 'squatter pw' }),
    )
    expect(registered.status).toBe(201)
    vi.stubEnv('ADMIN_EMAIL', email)
    vi.stubEnv('ADMIN_PASSWORD', 'an admin password')

    await expect(seedAdmin()).rejects.toThrow(
      /^seed-admin failed: ADMIN_EMAIL belongs to an account that is not a superuser/,
    )
    const rows = await database.db.select().from(users).where(eq(users.email, email))
    expect(rows).toMatchObject([{ isSuperuser: false }])
    expect(
      (await invoke(login, jsonEvent('/api/v1/auth/login', { email, password: 'an admin password' }))).status,
    ).toBe(401)
  })

  it('refuses to run without an admin email or password, naming what is missing', async () => {
    vi.stubEnv('ADMIN_EMAIL', '')
    vi.stubEnv('ADMIN_PASSWORD', '')
    await expect(seedAdmin()).rejects.toThrow(
      /ADMIN_PASSWORD or ADMIN_PASSWORD_SECRET_ARN is required.*ADMIN_EMAIL is required/,
    )
  })

  it('throws without SQL, parameters or a hash when the database refuses the seed', async () => {
    // A database without tables: drizzle's error would carry the insert and its parameters (the password hash).
    vi.stubEnv('DATABASE_URL', superuserOn('template1'))
    vi.stubEnv('ADMIN_EMAIL', uniqueEmail('admin'))
    vi.stubEnv('ADMIN_PASSWORD', 'an admin password')
    const error = (await seedAdmin().catch((caught: unknown) => caught)) as Error
    expect(error.message).toMatch(/^seed-admin failed: \w+ \(SQLSTATE 42P01\)$/)
    expect(error.cause).toBeUndefined()
  })

  it('refuses an admin password shorter than the registration rule', async () => {
    vi.stubEnv('ADMIN_EMAIL', uniqueEmail('admin'))
    vi.stubEnv('ADMIN_PASSWORD', 'short')
    await expect(seedAdmin()).rejects.toThrow(/8 to 72 bytes/)
  })

  it('refuses an admin password on the blocklist, as registration does', async () => {
    vi.stubEnv('ADMIN_EMAIL', uniqueEmail('admin'))
    vi.stubEnv('ADMIN_PASSWORD', 'Password123')
    await expect(seedAdmin()).rejects.toThrow(/not on the blocklist of common passwords/)
  })
})
