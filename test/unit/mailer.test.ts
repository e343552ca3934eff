import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { createMailer, MailDeliveryError, renderMail } from '#shared/domain/mail/mailer'
import passwordChanged from '#shared/domain/mail/password-changed-mail'
import passwordReset from '#shared/domain/mail/reset-link-mail'
import type { MailJob, MailJobRepository, MailMessage, MailSkip } from '#shared/domain/ports'
import { createMemoryStore } from '#test/fakes/memory-store'

const NOW = new Date('2026-11-30T05:20:00Z')
const SETTINGS = {
  productName: 'Acme Exams',
  resetUrl: 'https://app.example.com/reset-password?token={token}',
  resetTtlSeconds: 1800,
  deletionUrl: 'https://app.example.com/delete-account?token={token}',
}
const sha256Base64url = (value: string) => createHash('sha256').update(value, 'utf8').digest('base64url')

/**
 * The shared in-memory store (test/fakes), on a clock frozen at NOW: the repository's rules (a newer request
 * supersedes an older one, a request older than the link's lifetime is expired, a job settles once, one delivery holds
 * it at a time), recorded as they apply; the transport records what it sent, or throws what it is told to.
 */
function fakes() {
  const store = createMemoryStore({ clock: { now: () => NOW } })
  const issued: { jobId: string; tokenHash: string; ttlSeconds: number }[] = []
  const settled: { jobId: string; outcome: 'sent' | MailSkip }[] = []
  const failures: string[] = []
  /** Another delivery's hold on a job, as its claim would have stored it. */
  const claimed = {
    add: (jobId: string) => {
      const job = store.state.mailOutbox.get(jobId)
      if (job) job.claimedUntil = new Date(NOW.getTime() + 60_000)
    },
  }
  /** Errors the next settlements throw (the database gone after the send). */
  const settleFailures: unknown[] = []
  const repository: MailJobRepository = {
    load: store.mailJobs.load,
    issueLinkToken: async (job, tokenHash, ttlSeconds) => {
      const outcome = await store.mailJobs.issueLinkToken(job, tokenHash, ttlSeconds)
      if (outcome === 'issued') issued.push({ jobId: job.id, tokenHash, ttlSeconds })
      return outcome
    },
    settle: async (job, outcome) => {
      if (settleFailures.length > 0) throw settleFailures.shift()
      const row = store.state.mailOutbox.get(job.id)
      const before = row?.settledAt ?? null
      await store.mailJobs.settle(job, outcome)
      if (before === null && row?.settledAt) settled.push({ jobId: job.id, outcome })
    },
    issueEmailCode: store.mailJobs.issueEmailCode,
    claim: store.mailJobs.claim,
    recordFailure: async (job, delivery) => {
      await store.mailJobs.recordFailure(job, delivery)
      failures.push(job.id)
    },
  }
  const sent: MailMessage[] = []
  const sendFailures: unknown[] = []
  const transport = {
    send: async (message: MailMessage) => {
      if (sendFailures.length > 0) throw sendFailures.shift()
      sent.push(message)
    },
  }
  const mailer = createMailer({ jobs: repository, transport, settings: SETTINGS })
  /** The same sender where no deletion page is configured. */
  const withoutDeletionPage = createMailer({
    jobs: repository,
    transport,
    settings: { ...SETTINGS, deletionUrl: undefined },
  })
  /** Stores a job, and its recipient's account as the job describes it. */
  const addJob = (job: Partial<MailJob> & Pick<MailJob, 'id'>) => {
    const { email = 'user@example.com', userActive = true } = job
    const userId = job.userId ?? 1
    const account = store.state.users.find((user) => user.id === userId)
    if (account) account.isActive = userActive
    else store.addUser({ id: userId, email, isActive: userActive })
    const createdAt = job.createdAt ?? new Date(NOW.getTime() - 60_000)
    store.addMailJob({
      id: job.id,
      kind: job.kind ?? 'password_reset',
      userId,
      createdAt,
      settledAt: job.settled ? createdAt : null,
      outcome: job.settled ? 'sent' : null,
    })
  }
  return {
    mailer,
    withoutDeletionPage,
    addJob,
    issued,
    settled,
    failures,
    sent,
    sendFailures,
    claimed,
    settleFailures,
    store,
  }
}

/** The token a reset mail carries, read back from the link in its text. */
function tokenIn(message: MailMessage | undefined): string {
  const match = /https:\/\/app\.example\.com\/reset-password\?token=(\S+)/.exec(message?.text ?? '')
  if (!match?.[1]) throw new Error(`no reset link in: ${message?.text}`)
  return decodeURIComponent(match[1])
}

const connectionRefused = () =>
  Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1025'), { code: 'ECONNECTION' })

describe('mailer: reset mail', () => {
  it('mails the token whose hash the repository stored, with the configured lifetime', async () => {
    const { mailer, addJob, issued, settled, sent } = fakes()
    addJob({ id: 'job-1' })
    expect(await mailer.deliver('job-1')).toBe('sent')
    expect(sent).toHaveLength(1)
    expect(sent[0]?.to).toBe('user@example.com')
    const token = tokenIn(sent[0])
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(issued).toEqual([{ jobId: 'job-1', tokenHash: sha256Base64url(token), ttlSeconds: 1800 }])
    expect(sent[0]?.text).not.toContain(issued[0]?.tokenHash)
    expect(settled).toEqual([{ jobId: 'job-1', outcome: 'sent' }])
  })

  it('names the product and the minutes the link lasts (TTL / 60)', async () => {
    const { mailer, addJob, sent } = fakes()
    addJob({ id: 'job-1' })
    await mailer.deliver('job-1')
    expect(sent[0]?.subject).toBe('Reset your Acme Exams password')
    expect(sent[0]?.text).toContain('Acme Exams account')
    expect(sent[0]?.text).toContain('within 30 minutes')
    expect(sent[0]?.text).not.toContain('1800')
  })

  it('settles a superseded request without a mail or a link', async () => {
    const { mailer, addJob, issued, settled, sent } = fakes()
    addJob({ id: 'older', createdAt: new Date(NOW.getTime() - 120_000) })
    addJob({ id: 'newer', createdAt: new Date(NOW.getTime() - 60_000) })
    expect(await mailer.deliver('older')).toBe('superseded')
    expect(settled).toEqual([{ jobId: 'older', outcome: 'superseded' }])
    expect(issued).toEqual([])
    expect(sent).toEqual([])
  })

  it('settles a request older than a link lasts as expired, without a mail', async () => {
    const { mailer, addJob, issued, settled, sent } = fakes()
    addJob({ id: 'late', createdAt: new Date(NOW.getTime() - 1800_000) })
    expect(await mailer.deliver('late')).toBe('expired')
    expect(settled).toEqual([{ jobId: 'late', outcome: 'expired' }])
    expect(issued).toEqual([])
    expect(sent).toEqual([])
  })

  it("settles an inactive user's job as inactive: no link, no mail", async () => {
    const { mailer, addJob, issued, settled, sent } = fakes()
    addJob({ id: 'job-1', userActive: false })
    addJob({ id: 'job-2', kind: 'password_changed', userActive: false })
    expect(await mailer.deliver('job-1')).toBe('inactive')
    expect(await mailer.deliver('job-2')).toBe('inactive')
    expect(settled).toEqual([
      { jobId: 'job-1', outcome: 'inactive' },
      { jobId: 'job-2', outcome: 'inactive' },
    ])
    expect(issued).toEqual([])
    expect(sent).toEqual([])
  })

  it('does nothing for an unknown job', async () => {
    const { mailer, issued, settled, sent } = fakes()
    expect(await mailer.deliver('no-such-job')).toBe('no job')
    expect(issued).toEqual([])
    expect(settled).toEqual([])
    expect(sent).toEqual([])
  })

  it('sends nothing for a settled job, so a repeated delivery mails once', async () => {
    const { mailer, addJob, issued, sent } = fakes()
    addJob({ id: 'job-1' })
    addJob({ id: 'done', settled: true })
    expect(await mailer.deliver('done')).toBe('already settled')
    expect(await mailer.deliver('job-1')).toBe('sent')
    expect(await mailer.deliver('job-1')).toBe('already settled')
    expect(sent).toHaveLength(1)
    expect(issued).toHaveLength(1)
  })
})

describe('mailer: account-deletion mail', () => {
  it('mails a link to the deletion page, its hash stored apart from reset links', async () => {
    const { mailer, addJob, issued, sent, store } = fakes()
    addJob({ id: 'reset-1' })
    addJob({ id: 'delete-1', kind: 'account_deletion' })
    expect(await mailer.deliver('reset-1')).toBe('sent')
    expect(await mailer.deliver('delete-1')).toBe('sent')
    expect(sent[1]?.subject).toBe('Delete your Acme Exams account')
    const token =
      /https:\/\/app\.example\.com\/delete-account\?token=(\S+)/.exec(sent[1]?.text ?? '')?.[1] ?? ''
    expect(issued[1]).toEqual({ jobId: 'delete-1', tokenHash: sha256Base64url(token), ttlSeconds: 1800 })
    // Each kind in its own table: the deletion link did not replace the reset link, nor the other way round.
    expect(store.state.passwordResetTokens.get(1)?.jobId).toBe('reset-1')
    expect(store.state.accountDeletionTokens.get(1)?.jobId).toBe('delete-1')
  })

  it('sends no dead link where no deletion page is configured: the job fails, unsettled, for a retry', async () => {
    const { withoutDeletionPage, addJob, issued, sent, settled } = fakes()
    addJob({ id: 'delete-1', kind: 'account_deletion' })
    await expect(withoutDeletionPage.deliver('delete-1')).rejects.toThrow(MailDeliveryError)
    expect([sent, issued, settled]).toEqual([[], [], []])
  })
})

describe('mailer: failures', () => {
  it("records a failed send and throws MailDeliveryError with the transport's code, settling nothing", async () => {
    const { mailer, addJob, failures, settled, sendFailures } = fakes()
    addJob({ id: 'job-1' })
    const cause = connectionRefused()
    sendFailures.push(cause)
    const error = await mailer.deliver('job-1').catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(MailDeliveryError)
    expect((error as Error).message).toContain('ECONNECTION')
    expect((error as Error).cause).toBe(cause)
    expect(failures).toEqual(['job-1'])
    expect(settled).toEqual([])
  })

  it('names a failure by its error when the code is not a plain identifier (nothing else of it is kept)', async () => {
    const { mailer, addJob, sendFailures } = fakes()
    addJob({ id: 'job-1' })
    sendFailures.push(Object.assign(new TypeError('secret smtp://user:pw@host'), { code: 'x; pw=hunter2' }))
    const error = await mailer.deliver('job-1').catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(MailDeliveryError)
    expect((error as Error).message).toContain('TypeError')
    expect((error as Error).message).not.toContain('hunter2')
    expect((error as Error).message).not.toContain('smtp://')
  })

  it('issues a new token on the retry after a failure, and mails that one', async () => {
    const { mailer, addJob, issued, failures, settled, sent, sendFailures } = fakes()
    addJob({ id: 'job-1' })
    sendFailures.push(connectionRefused())
    await expect(mailer.deliver('job-1')).rejects.toBeInstanceOf(MailDeliveryError)
    expect(await mailer.deliver('job-1')).toBe('sent')
    expect(failures).toEqual(['job-1'])
    expect(issued).toHaveLength(2)
    expect(issued[0]?.tokenHash).not.toBe(issued[1]?.tokenHash)
    expect(sha256Base64url(tokenIn(sent[0]))).toBe(issued[1]?.tokenHash)
    expect(settled).toEqual([{ jobId: 'job-1', outcome: 'sent' }])
  })
})

describe('mailer: password-changed notice', () => {
  it("states the change's time to the minute, in UTC", async () => {
    const { mailer, addJob, issued, sent } = fakes()
    addJob({ id: 'notice', kind: 'password_changed', createdAt: new Date('2026-11-30T05:12:45.678Z') })
    expect(await mailer.deliver('notice')).toBe('sent')
    expect(sent[0]?.subject).toBe('Your Acme Exams password was changed')
    expect(sent[0]?.text).toContain('changed on 2026-11-30 05:12 UTC,')
    expect(issued).toEqual([])
  })

  it('leaves no placeholder in any mail it sends', async () => {
    const { mailer, addJob, sent } = fakes()
    addJob({ id: 'reset' })
    addJob({ id: 'notice', kind: 'password_changed' })
    await mailer.deliver('reset')
    await mailer.deliver('notice')
    expect(sent).toHaveLength(2)
    for (const message of sent) {
      expect(message.subject).not.toMatch(/\{\{|\}\}/)
      expect(message.text).not.toMatch(/\{\{|\}\}/)
      expect(message.text).not.toMatch(/^Subject:/)
    }
  })
})

describe('renderMail', () => {
  it('fills the placeholders, takes the subject from the first line, and drops it from the text', () => {
    expect(
      renderMail('Subject: Hi {{name}}\n\nHello {{name}}, {{what}}.\n', { name: 'Ada', what: 'welcome' }),
    ).toEqual({ subject: 'Hi Ada', text: 'Hello Ada, welcome.\n' })
  })

  it('refuses a template that lost a placeholder it fills', () => {
    expect(() => renderMail('Subject: Hi\n\n{{product}}\n', { product: 'A', link: 'L' })).toThrow(/link/)
    const noLink = passwordReset.replace('{{link}}', 'https://example.com/')
    expect(() => renderMail(noLink, { product: 'A', link: 'L', minutes: '30' })).toThrow(/placeholders: link/)
  })

  it('refuses a template with a placeholder it does not fill', () => {
    expect(() => renderMail('Subject: {{product}}\n\n{{unknown}}\n', { product: 'A' })).toThrow(
      /unknown placeholder: \{\{unknown\}\}/,
    )
    expect(() => renderMail(passwordChanged, { product: 'A' })).toThrow(/\{\{time\}\}/)
  })

  it('refuses a template without its Subject line', () => {
    expect(() => renderMail('Hello {{product}}\n', { product: 'A' })).toThrow(/Subject/)
    expect(() => renderMail('\nSubject: {{product}}\n', { product: 'A' })).toThrow(/Subject/)
    const withoutSubject = passwordChanged.split('\n').slice(1).join('\n')
    expect(() => renderMail(withoutSubject, { product: 'A', time: 'now' })).toThrow(/Subject/)
  })
})

describe('one delivery at a time', () => {
  it('refuses a second delivery of a job another one holds, sending nothing (Lambda retries it later)', async () => {
    const { mailer, addJob, sent, claimed } = fakes()
    addJob({ id: 'held' })
    claimed.add('held')
    await expect(mailer.deliver('held')).rejects.toBeInstanceOf(MailDeliveryError)
    expect(sent).toEqual([])
  })

  it('answers sent when the send went out but recording it failed, so no retry sends a second link', async () => {
    const { mailer, addJob, sent, settled, settleFailures } = fakes()
    addJob({ id: 'sent-unrecorded' })
    settleFailures.push(new Error('database gone'))
    expect(await mailer.deliver('sent-unrecorded')).toBe('sent')
    expect(sent).toHaveLength(1)
    expect(settled).toEqual([])
    // The claim is still held: a duplicate delivery meanwhile sends nothing.
    await expect(mailer.deliver('sent-unrecorded')).rejects.toBeInstanceOf(MailDeliveryError)
    expect(sent).toHaveLength(1)
  })
})
