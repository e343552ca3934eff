/**
 * A mail that cannot be sent is never lost silently: the request is answered at once all the same (sending is off
 * its path), Lambda's retries run (the local stand-in makes the same two), every attempt is audited, and the event
 * ends at the failure destination with nothing secret in it; once the mail server is back, redriving that event
 * sends the mail with a link that works.
 */
import { randomBytes } from 'node:crypto'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DatabaseHandle } from '#db/client'
import { type LocalStack, startLocalStack } from '#infra/local/local-stack'
import { type MailCatcher, startMailCatcher } from '#infra/local/mail-catcher'
import { createAsyncInvoker } from '#shared/platform/lambda-invoke'
import { uniqueEmail } from '#test/helpers/events'
import { stackDatabase } from '#test/helpers/local-stack'

let stack: LocalStack
let catcher: MailCatcher
let relay: Server
/** While false, the SMTP server the functions use refuses every session (as a mail service in an outage). */
let mailServerUp = false
let database: DatabaseHandle
let api: string

/** An SMTP endpoint that refuses with 421 while the service is "down", and passes everything to MailDev otherwise. */
function startSwitchableSmtp(target: URL): Promise<Server> {
  const server = createServer((client: Socket) => {
    if (!mailServerUp) {
      client.end('421 4.3.2 Service not available, closing transmission channel\r\n')
      return
    }
    const upstream = connect(Number(target.port), target.hostname)
    client.pipe(upstream).pipe(client)
    upstream.on('error', () => client.destroy())
    client.on('error', () => upstream.destroy())
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

const post = (path: string, body: unknown) =>
  fetch(`${api}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })

beforeAll(async () => {
  catcher = await startMailCatcher()
  relay = await startSwitchableSmtp(new URL(catcher.smtpUrl))
  const { port } = relay.address() as { port: number }
  process.env.ADMIN_EMAIL = 'admin@example.com'
  process.env.ADMIN_PASSWORD = randomBytes(18).toString('base64url')
  process.env.BCRYPT_COST = '10'
  stack = await startLocalStack({
    setup: 'functions',
    server: {},
    mail: {
      smtpUrl: `smtp://127.0.0.1:${port}`,
      resetUrl: 'https://app.example.test/reset?token={token}',
      retryDelaysMs: [20, 40],
    },
  })
  if (!stack.server) throw new Error('the stack serves no API')
  api = `${stack.server.url}/api/v1`
  database = stackDatabase(stack)
}, 120_000)

afterAll(async () => {
  await database?.close()
  await stack?.stop()
  await new Promise((done) => relay?.close(done))
  await catcher?.stop()
})

describe('a mail that cannot be sent', () => {
  it('is retried, audited, and handed to the failure destination; a redrive sends it once the server is back', async () => {
    const email = uniqueEmail()
    expect((await post('/auth/register', { email, password: 'first password 1' })).status).toBe(201)

    const answer = await post('/auth/password-reset', { email })
    expect(answer.status).toBe(202)
    await stack.lambda?.idle()

    // Three attempts (the first and Lambda's two retries), each audited, none settled; the event at the destination.
    const failures = stack.lambda?.failures ?? []
    expect(failures).toHaveLength(1)
    expect(failures[0]).toMatchObject({ function: 'send-mail', attempts: 3 })
    const payload = failures[0]?.payload as { job: string }
    expect(Object.keys(payload)).toEqual(['job'])
    const [job] = (
      await database.db.execute(sql`
        select o.attempts, o.settled_at, o.kind from mail_outbox o where o.id = ${payload.job}::uuid`)
    ).rows
    expect(job).toEqual({ attempts: 3, settled_at: null, kind: 'password_reset' })
    const events = await database.db.execute(sql`
      select e.type from security_events e join users u on u.id = e.user_id
      where u.email = ${email} and e.type like '%mail%'`)
    expect(events.rows).toEqual(Array.from({ length: 3 }, () => ({ type: 'password_reset_mail_failed' })))
    expect(await catcher.messages(email)).toEqual([])

    // The operator redrives the failed event once the mail service is back: the mail goes, with a working link.
    mailServerUp = true
    const { AWS_ENDPOINT_URL_LAMBDA: endpoint, AWS_REGION: region = 'us-east-1' } = process.env
    const redrive = createAsyncInvoker({
      functionName: failures[0]?.function ?? '',
      region,
      endpoint,
      credentials: { accessKeyId: 'operator', secretAccessKey: 'operator' },
      timeoutMs: 2000,
    })
    await redrive(payload)
    await stack.lambda?.idle()
    const mail = await catcher.waitFor(email)
    const token = /token=([\w-]+)/.exec(mail.text)?.[1]
    expect(token).toBeDefined()
    expect(
      (await post('/auth/password-reset/confirm', { token, new_password: 'second password 2' })).status,
    ).toBe(204)
    // Redriving it again sends nothing more: the job is settled.
    await redrive(payload)
    await stack.lambda?.idle()
    expect(await catcher.messages(email)).toHaveLength(2) // the reset mail and the "was changed" notice
  })
})
