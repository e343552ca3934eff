/**
 * The mail transport against real SMTP servers the way a developer runs one: nodemailer's own smtp-server with its
 * defaults offers STARTTLS with a built-in self-signed certificate, which nodemailer takes up and would refuse. On
 * loopback the transport accepts it (a local catcher); anywhere else the certificate is checked.
 */
import type { AddressInfo } from 'node:net'
import { networkInterfaces } from 'node:os'
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
  await new Promise<void>((done) => server.listen(0, '0.0.0.0', done))
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

  /** This machine's address on a network interface: the same server, reached as any other host would be. */
  const external = Object.values(networkInterfaces())
    .flat()
    .find((address) => address?.family === 'IPv4' && !address.internal)?.address

  it.skipIf(external === undefined)(
    'checks the certificate of any other host: a self-signed one is refused',
    async () => {
      const transport = await createMailTransport({
        smtpUrl: `smtp://${external}:${port}`,
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
    },
  )
})
