/**
 * What reset requests and failed logins leave behind, against the real database, through the functions' handlers,
 * the mail sender run by a local Lambda and a real SMTP server: a flood of refused reset requests from one address
 * grows no table with its size; an email that names no account is audited by its digest only; and the mail sender's
 * log does not tell a request for a known email from one for an unknown email.
 */
import { createHash, randomBytes } from 'node:crypto'
import { type SQL, sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { type LocalLambda, startLocalLambda } from '#infra/local/lambda-service'
import { type MailCatcher, startMailCatcher } from '#infra/local/mail-catcher'
import { disposeAll } from '#shared/app/memo'
import { resetEmailKey } from '#shared/domain/password-reset-service'
import { testDatabase } from '#test/helpers/database'
import { invoke, jsonEvent, type TestResponse, uniqueEmail } from '#test/helpers/events'

type Handler = Parameters<typeof invoke>[0]

const IP_LIMIT = 3
const EMAIL_LIMIT = 2
const RESET = '/api/v1/auth/password-reset'
const ACCEPTED = {
  status: 202,
  body: { detail: 'If an account with this email exists, a link to reset its password has been sent.' },
}
const REFUSED = { status: 429, body: { detail: 'Too many password reset requests' } }

let requestReset: Handler
let login: Handler
let register: Handler
let lambda: LocalLambda
let catcher: MailCatcher
const database = testDatabase()

beforeAll(async () => {
  catcher = await startMailCatcher()
  lambda = await startLocalLambda({ retryDelaysMs: [10, 10] })
  // Read at the functions' cold start: set before their modules are imported.
  Object.assign(process.env, {
    PASSWORD_RESET_IP_LIMIT: String(IP_LIMIT),
    PASSWORD_RESET_EMAIL_LIMIT: String(EMAIL_LIMIT),
    MAILER_FUNCTION_NAME: 'send-mail',
    AWS_ENDPOINT_URL_LAMBDA: lambda.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    SMTP_URL: catcher.smtpUrl,
    MAIL_FROM: 'no-reply@example.test',
    PASSWORD_RESET_URL: 'https://app.example.test/reset?token={token}',
  })
  ;[{ handler: requestReset }, { handler: login }, { handler: register }] = await Promise.all([
    import('#functions/password-reset'),
    import('#functions/login'),
    import('#functions/register'),
  ])
})

afterAll(async () => {
  await lambda?.close()
  await catcher?.stop()
  await disposeAll()
  await database.close()
})

/** An address in 2001:db8:b0::/48 (documentation), one per call, so its limit counts this file's requests only. */
const newSourceIp = () => `2001:db8:b0::${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}`

const rows = async <T extends Record<string, unknown>>(query: SQL) =>
  (await database.db.execute<T>(query)).rows

const resetFrom = (email: string, sourceIp: string) =>
  invoke(requestReset, jsonEvent(RESET, { email }, { sourceIp }))

async function registered(email: string): Promise<number> {
  const answer = await invoke(
    register,
    jsonEvent('/api/v1/auth/register', { email, password: 'correct horse 1' }),
  )
  expect(answer.status).toBe(201)
  return (answer.body as { id: number }).id
}

/** The digest an event with no user stores for `email`, as an operator computes it to search the audit trail. */
const digestOf = (email: string) => `sha256:${createHash('sha256').update(email, 'utf8').digest('hex')}`

describe('a flood of reset requests from one address', () => {
  /**
   * `size` requests from one new address, each for a new random email, 25 at a time; the answers, and the rows the
   * flood left in `rate_limits` and `security_events` (every row it can write names its address or one of its emails).
   */
  async function flood(size: number) {
    const sourceIp = newSourceIp()
    const emails = Array.from({ length: size }, () => uniqueEmail('flood'))
    const keys = [
      `password-reset-ip:${sourceIp}`,
      ...emails.map((email) => `password-reset-email:${resetEmailKey(email)}`),
    ]
    const digests = emails.map(digestOf)
    const count = async () =>
      (
        await rows<{ limits: number; events: number }>(sql`select
          (select count(*)::int from rate_limits where key in ${keys}) as limits,
          (select count(*)::int from security_events where source_ip = ${sourceIp} or email in ${digests}) as events`)
      )[0]
    const before = await count()
    const answers: TestResponse[] = []
    for (let sent = 0; sent < size; sent += 25) {
      answers.push(
        ...(await Promise.all(emails.slice(sent, sent + 25).map((email) => resetFrom(email, sourceIp)))),
      )
    }
    await lambda.idle()
    const after = await count()
    return { answers, before, after, sourceIp }
  }

  it(`leaves ${IP_LIMIT + 1} counters and ${IP_LIMIT + 1} events, whether it is 100 or 500 requests long`, async () => {
    const small = await flood(100)
    const large = await flood(500)
    for (const { answers, before } of [small, large]) {
      expect(before).toEqual({ limits: 0, events: 0 })
      // The answers the contract gives: the limit's worth of 202, then 429 with Retry-After.
      expect(answers.filter((answer) => answer.status === 202)).toHaveLength(IP_LIMIT)
      for (const answer of answers) expect(answer).toMatchObject(answer.status === 202 ? ACCEPTED : REFUSED)
      for (const answer of answers.filter(({ status }) => status === 429))
        expect(Number(answer.headers['retry-after'])).toBeGreaterThan(0)
    }
    // The address's counter and one per email it was let through for; an event per request let through and one for
    // the first refused: the same for both sizes.
    expect(small.after).toEqual({ limits: IP_LIMIT + 1, events: IP_LIMIT + 1 })
    expect(large.after).toEqual(small.after)
    const events = await rows<{ type: string }>(
      sql`select type from security_events where source_ip = ${large.sourceIp} order by type`,
    )
    expect(events.map(({ type }) => type)).toEqual([
      'password_reset_limited',
      ...Array.from({ length: IP_LIMIT }, () => 'password_reset_requested'),
    ])
    // The flood's size is still told: the address's counter holds it, until its window passes.
    expect(
      await rows(sql`select hits from rate_limits where key = ${`password-reset-ip:${large.sourceIp}`}`),
    ).toEqual([{ hits: 500 }])
  }, 120_000)

  it('audits an email refused past its own limit once per window, from however many addresses', async () => {
    const email = uniqueEmail('targeted')
    const sources = Array.from({ length: 12 }, newSourceIp)
    const answers: TestResponse[] = []
    for (const sourceIp of sources) answers.push(await resetFrom(email, sourceIp))
    expect(answers.map(({ status }) => status)).toEqual([
      ...Array.from({ length: EMAIL_LIMIT }, () => 202),
      ...Array.from({ length: sources.length - EMAIL_LIMIT }, () => 429),
    ])
    const events = await rows<{ type: string }>(
      sql`select type from security_events where email = ${digestOf(email)} order by type`,
    )
    expect(events.map(({ type }) => type)).toEqual([
      'password_reset_limited',
      ...Array.from({ length: EMAIL_LIMIT }, () => 'password_reset_requested'),
    ])
  })
})

describe('the audit trail of an email that names no account', () => {
  it('keeps its SHA-256 only, findable by hashing the address; a known account keeps its id and email', async () => {
    const unknown = uniqueEmail('nobody')
    const sourceIp = newSourceIp()
    const wrong = await invoke(
      login,
      jsonEvent('/api/v1/auth/login', { email: unknown, password: 'some password 1' }, { sourceIp }),
    )
    expect(wrong.status).toBe(401)
    expect(await resetFrom(unknown, sourceIp)).toMatchObject(ACCEPTED)
    await lambda.idle()

    // Nowhere in any column of any event, whatever its case.
    const local = unknown.split('@')[0] as string
    expect(
      await rows(
        sql`select id from security_events e where strpos(lower(e::text), ${local.toLowerCase()}) > 0`,
      ),
    ).toEqual([])
    // The operator's search: the address as typed, canonicalised and hashed in SQL.
    const typed = `  ${unknown.toUpperCase()} `
    const found = await rows<{ type: string; user_id: number | null; email: string }>(sql`
      select type, user_id, email from security_events
      where email = 'sha256:' || encode(sha256(convert_to(lower(trim(${typed})), 'UTF8')), 'hex')
      order by id`)
    expect(found).toEqual([
      { type: 'login_failure', user_id: null, email: digestOf(unknown) },
      { type: 'password_reset_requested', user_id: null, email: digestOf(unknown) },
    ])

    const known = uniqueEmail('somebody')
    const userId = await registered(known)
    expect(
      (await invoke(login, jsonEvent('/api/v1/auth/login', { email: known, password: 'wrong one 1' })))
        .status,
    ).toBe(401)
    expect(await resetFrom(known, newSourceIp())).toMatchObject(ACCEPTED)
    await lambda.idle()
    expect(
      await rows(sql`select type, email from security_events where user_id = ${userId} order by id`),
    ).toEqual([
      { type: 'register', email: known },
      { type: 'login_failure', email: known },
      { type: 'password_reset_requested', email: known },
      { type: 'password_reset_mail_sent', email: null },
    ])
  })
})

describe("the mail sender's log", () => {
  /** Every line written while `action` runs, parsed. */
  async function captured(action: () => Promise<void>): Promise<Record<string, unknown>[]> {
    const lines: string[] = []
    const capture = (chunk: unknown) => {
      lines.push(...String(chunk).split('\n').filter(Boolean))
      return true
    }
    vi.spyOn(process.stdout, 'write').mockImplementation(capture)
    vi.spyOn(process.stderr, 'write').mockImplementation(capture)
    try {
      await action()
    } finally {
      vi.restoreAllMocks()
    }
    // The service's lines are JSON; any other line is kept as its text, to be compared all the same.
    return lines.map((line) =>
      line.startsWith('{') ? (JSON.parse(line) as Record<string, unknown>) : { text: line },
    )
  }

  /**
   * A line with the values that differ between any two requests (ids, times, the time of its count) replaced by their
   * field's name.
   */
  const shape = (entry: Record<string, unknown>) =>
    Object.fromEntries(
      Object.entries(entry).map(([field, value]) => [
        field,
        ['time', 'requestId', 'durationMs', 'job'].includes(field)
          ? field
          : field === '_aws'
            ? { ...(value as object), Timestamp: 'Timestamp' }
            : value,
      ]),
    )

  it('writes the same lines for a request for a known email as for an unknown one', async () => {
    const known = uniqueEmail('logged')
    await registered(known)
    // Both functions warm, so neither request's lines include a cold start's.
    expect(await resetFrom(uniqueEmail('warm-up'), newSourceIp())).toMatchObject(ACCEPTED)
    await lambda.idle()

    const request = (email: string) =>
      captured(async () => {
        expect(await resetFrom(email, newSourceIp())).toMatchObject(ACCEPTED)
        await lambda.idle()
      })
    const forKnown = await request(known)
    const forUnknown = await request(uniqueEmail('unlogged'))

    // The mail was sent for the one, not for the other, and the sender ran for both.
    expect(await catcher.messages(known)).toHaveLength(1)
    expect(forKnown.map(({ message }) => message).sort()).toEqual(['mail job done', 'request'])
    // Both counted alike: a reset requested (docs/deploying.md, Metrics), whatever the email.
    expect(forKnown.find(({ message }) => message === 'request')).toMatchObject({
      Outcome: 'requested',
      PasswordResets: 1,
    })
    const shapes = (lines: Record<string, unknown>[]) =>
      lines.map(shape).sort((a, b) => String(a.message).localeCompare(String(b.message)))
    expect(shapes(forUnknown)).toEqual(shapes(forKnown))
  })
})
