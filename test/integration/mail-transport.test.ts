/**
 * The mail transport against real SMTP servers the way a developer runs one: nodemailer's own smtp-server with its
 * defaults offers STARTTLS with a built-in self-signed certificate, which nodemailer takes up and would refuse. On
 * loopback the transport accepts it (a local catcher); anywhere else the certificate is checked. The server listens on
 * 127.0.0.1 alone, so both run on any machine, one without a network interface but loopback included.
 */
import type { AddressInfo } from 'node:net'
import { SMTPServer } from 'smtp-server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMailTransport } from '#shared/platform/mail-transport'

let server: SMTPServer
let port: number
const received: { to: string[]; data: string; secure: boolean }[] = []

beforeAll(async () => {
  // A process-wide warning smtp-server prints about its default certificate: the point of this test.
  const warn = console.warn
  console.warn = () => {}
  server = new SMTPServer({
    authOptional: true,
    onData(stream, session, callback) {
      let data = ''
      stream.on('data', (chunk: Buffer) => {
        data += chunk.toString('utf8')
      })
      stream.on('end', () => {
        received.push({ to: session.envelope.rcptTo.map((r) => r.address), data, secure: session.secure })
        callback()
      })
    },
  })
  console.warn = warn
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  port = (server.server.address() as AddressInfo).port
})

afterAll(() => new Promise<void>((done) => server.close(() => done())))

describe('the SMTP transport', () => {
  it('sends through a loopback server that offers STARTTLS with a self-signed certificate, encrypted', async () => {
    const transport = await createMailTransport({
      smtpUrl: `smtp://127.0.0.1:${port}`,
      from: 'no-reply@example.test',
    })
    try {
      await transport.send({ to: 'student@example.test', subject: 'Reset', text: 'the link' })
    } finally {
      transport.close()
    }
    expect(received.at(-1)).toMatchObject({ to: ['student@example.test'], secure: true })
    expect(received.at(-1)?.data).toContain('the link')
  })

  /**
   * The same server, addressed as 0.0.0.0: a connection to it reaches this machine (on Linux and macOS), yet it is
   * neither localhost nor in 127.0.0.0/8 or ::1, so the transport treats it as any other host, and no external network
   * interface is needed. The refusal must name the certificate: a connection failing for another reason proves nothing.
   */
  it('checks the certificate of any host but loopback: a self-signed one is refused', async () => {
    const transport = await createMailTransport({
      smtpUrl: `smtp://0.0.0.0:${port}`,
      from: 'no-reply@example.test',
    })
    const before = received.length
    try {
      await expect(transport.send({ to: 'student@example.test', subject: 'x', text: 'y' })).rejects.toThrow(
        /certificate/i,
      )
    } finally {
      transport.close()
    }
    expect(received).toHaveLength(before)
  })
})
