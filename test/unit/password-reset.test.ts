import { createHash } from 'node:crypto'
import bcrypt from 'bcryptjs'
import { describe, expect, it } from 'vitest'
import {
  InvalidResetTokenError,
  MailNotConfiguredError,
  MailQueueUnavailableError,
  PasswordResetLimitError,
} from '#shared/domain/errors'
import {
  createPasswordResetService,
  hashResetToken,
  newResetToken,
  resetEmailKey,
  resetLink,
} from '#shared/domain/password-reset-service'
import { createPasswordHasher, type PasswordHasher } from '#shared/domain/passwords'
import type { MailQueue, PasswordResetRepository, ResetCompletion, ResetRequest } from '#shared/domain/ports'
import { isUuid } from '#shared/domain/schemas'
import { ERROR_TABLE } from '#shared/http/errors'
import { createMemoryStore } from '#test/fakes/memory-store'

const CONTEXT = { sourceIp: '198.51.100.1', userAgent: 'vitest' }
const sha256Hex = (value: string) => createHash('sha256').update(value, 'utf8').digest('hex')
const sha256Base64url = (value: string) => createHash('sha256').update(value, 'utf8').digest('base64url')

/**
 * The shared in-memory store (test/fakes) on a frozen clock, with one account (known@example.com): it queues a job
 * only for an active account, refuses past the email's limit for the rest of its window (37 s here), and consumes a
 * live link once. What the service asked of it is recorded; the queue records what it was handed.
 */
function fakes(options: { mail?: boolean; limit?: number; queueFailure?: Error } = {}) {
  const store = createMemoryStore({
    clock: { now: () => new Date('2026-11-30T05:20:00Z') },
    reset: { emailLimit: options.limit ?? 1_000_000, ipLimit: 1_000_000, windowSeconds: 37 },
  })
  store.addUser({ email: 'known@example.com' })
  const requests: ResetRequest[] = []
  const queuedJobs: string[] = []
  const completions: ResetCompletion[] = []
  const resets: PasswordResetRepository = {
    request: async (request, context) => {
      requests.push(request)
      const answer = await store.resets.request(request, context)
      if (store.state.mailOutbox.has(request.id)) queuedJobs.push(request.id)
      return answer
    },
    isLive: store.resets.isLive,
    complete: async (completion, context) => {
      const completed = await store.resets.complete(completion, context)
      if (completed) completions.push(completion)
      return completed
    },
  }
  const notified: string[] = []
  const mail: MailQueue = {
    notify: async (jobId) => {
      if (options.queueFailure) throw options.queueFailure
      notified.push(jobId)
    },
  }
  // The real bcrypt hasher, counted: a dead link must cost no hash at all.
  const real = createPasswordHasher({ cost: 10 })
  const hashed: string[] = []
  const passwords: PasswordHasher = {
    hash: (password) => {
      hashed.push(password)
      return real.hash(password)
    },
    verify: real.verify,
  }
  const service = createPasswordResetService({
    resets,
    passwords,
    mail: options.mail === false ? undefined : mail,
  })
  /** Stores a live link, each of a new account's (one link per user), and returns its token, as the mailer would. */
  const issue = () => {
    const token = newResetToken()
    const user = store.addUser({ email: `holder${store.state.users.length}@example.com` })
    store.addResetLink(user.id, hashResetToken(token))
    return token
  }
  /** The stored links: a completed reset uses its link up. */
  const liveTokens = store.state.passwordResetTokens
  return { service, requests, queuedJobs, notified, hashed, completions, liveTokens, issue }
}

describe('password reset request', () => {
  it('hands the job id it gave the repository to the queue, for a known and an unknown email alike', async () => {
    const { service, requests, queuedJobs, notified } = fakes()
    await service.request('known@example.com', CONTEXT)
    await service.request('nobody@example.com', CONTEXT)
    expect(requests.map((request) => request.email)).toEqual(['known@example.com', 'nobody@example.com'])
    const [known, unknown] = requests.map((request) => request.id)
    expect(known && isUuid(known)).toBe(true)
    expect(unknown && isUuid(unknown)).toBe(true)
    expect(known).not.toBe(unknown)
    // Only the repository knows which email has an account; the service notifies both the same way.
    expect(queuedJobs).toEqual([known])
    expect(notified).toEqual([known, unknown])
  })

  it("keys the email's limit by the SHA-256 hex of the canonical email, never the email itself", async () => {
    const { service, requests } = fakes()
    await service.request('known@example.com', CONTEXT)
    const key = requests[0]?.emailKey
    expect(key).toBe(sha256Hex('known@example.com'))
    expect(key).toMatch(/^[0-9a-f]{64}$/)
    expect(key).not.toContain('known')
    expect(resetEmailKey('known@example.com')).toBe(sha256Hex('known@example.com'))
    expect(resetEmailKey('known@example.com')).not.toBe(resetEmailKey('other@example.com'))
  })

  it("refuses with the repository's seconds, and notifies nothing", async () => {
    const { service, notified } = fakes({ limit: 1 })
    await service.request('known@example.com', CONTEXT)
    notified.length = 0
    const refusal = service.request('known@example.com', CONTEXT)
    await expect(refusal).rejects.toBeInstanceOf(PasswordResetLimitError)
    await expect(refusal).rejects.toMatchObject({ retryAfterSeconds: 37, code: 'PASSWORD_RESET_LIMIT' })
    expect(notified).toEqual([])
  })

  it('refuses with no queue configured, before anything is counted', async () => {
    const { service, requests } = fakes({ mail: false })
    await expect(service.request('known@example.com', CONTEXT)).rejects.toBeInstanceOf(MailNotConfiguredError)
    expect(requests).toEqual([])
  })

  it("lets the queue's failure through, answered 503", async () => {
    const failure = new MailQueueUnavailableError()
    const { service, requests } = fakes({ queueFailure: failure })
    const error = await service.request('known@example.com', CONTEXT).catch((caught: unknown) => caught)
    expect(error).toBe(failure)
    expect(ERROR_TABLE[failure.code].status).toBe(503)
    expect(requests).toHaveLength(1)
  })
})

describe('password reset confirm', () => {
  it('answers a dead token with InvalidResetTokenError and computes no bcrypt hash', async () => {
    const { service, hashed, completions, notified, issue } = fakes()
    issue()
    await expect(
      service.confirm({ token: newResetToken(), new_password: 'new password 1' }, CONTEXT),
    ).rejects.toBeInstanceOf(InvalidResetTokenError)
    expect(hashed).toEqual([])
    expect(completions).toEqual([])
    expect(notified).toEqual([])
  })

  it("completes a live token: the token's hash, a bcrypt hash of the new password, fresh ids, the notice notified", async () => {
    const { service, completions, notified, liveTokens, issue } = fakes()
    const first = issue()
    const second = issue()
    await service.confirm({ token: first, new_password: 'new password 1' }, CONTEXT)
    await service.confirm({ token: second, new_password: 'new password 2' }, CONTEXT)
    expect(liveTokens.size).toBe(0)
    const [one, two] = completions
    if (!one || !two) throw new Error('expected two completions')
    expect(one.tokenHash).toBe(sha256Base64url(first))
    expect(one.tokenHash).not.toBe(first)
    expect(two.tokenHash).toBe(sha256Base64url(second))
    expect(bcrypt.getRounds(one.hash)).toBe(10)
    expect(await bcrypt.compare('new password 1', one.hash)).toBe(true)
    expect(await bcrypt.compare('new password 2', one.hash)).toBe(false)
    expect(await bcrypt.compare('new password 2', two.hash)).toBe(true)
    const ids = [one.id, one.noticeId, two.id, two.noticeId]
    expect(ids.every(isUuid)).toBe(true)
    expect(new Set(ids).size).toBe(4)
    expect(notified).toEqual([one.noticeId, two.noticeId])
  })

  it('answers the loser of a race for one link with InvalidResetTokenError, and notifies only the winner', async () => {
    const { service, completions, notified, hashed, issue } = fakes()
    const token = issue()
    // Both pass the first (non-atomic) check before either completes; only one can use the link up.
    const outcomes = await Promise.allSettled([
      service.confirm({ token, new_password: 'winner password' }, CONTEXT),
      service.confirm({ token, new_password: 'loser password' }, CONTEXT),
    ])
    expect(hashed).toHaveLength(2)
    expect(outcomes[0]?.status).toBe('fulfilled')
    expect(outcomes[1]?.status).toBe('rejected')
    expect(outcomes[1]?.status === 'rejected' && outcomes[1].reason).toBeInstanceOf(InvalidResetTokenError)
    expect(completions).toHaveLength(1)
    expect(await bcrypt.compare('winner password', completions[0]?.hash ?? '')).toBe(true)
    expect(notified).toEqual([completions[0]?.noticeId])
  })

  it('does not fail a completed reset when the notice cannot be handed to the queue', async () => {
    const { service, completions, liveTokens, issue } = fakes({
      queueFailure: new MailQueueUnavailableError(),
    })
    const token = issue()
    await expect(service.confirm({ token, new_password: 'new password 1' }, CONTEXT)).resolves.toBeUndefined()
    expect(completions).toHaveLength(1)
    expect(liveTokens.size).toBe(0)
  })

  it('completes a reset with no queue configured (the notice waits in the outbox)', async () => {
    const { service, completions, issue } = fakes({ mail: false })
    await service.confirm({ token: issue(), new_password: 'new password 1' }, CONTEXT)
    expect(completions).toHaveLength(1)
  })
})

describe('reset tokens and links', () => {
  it('makes tokens of 256 random bits, 43 base64url characters, different each time', () => {
    const tokens = Array.from({ length: 200 }, newResetToken)
    for (const token of tokens) {
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/)
      const bytes = Buffer.from(token, 'base64url')
      expect(bytes).toHaveLength(32)
      expect(bytes.toString('base64url')).toBe(token)
    }
    expect(new Set(tokens).size).toBe(tokens.length)
  })

  it("hashes a token deterministically to its SHA-256 (base64url), never the token's own text", () => {
    const token = newResetToken()
    expect(hashResetToken(token)).toBe(hashResetToken(token))
    expect(hashResetToken(token)).toBe(sha256Base64url(token))
    expect(hashResetToken(token)).not.toBe(token)
    expect(hashResetToken(token)).not.toContain(token)
    expect(hashResetToken(newResetToken())).not.toBe(hashResetToken(token))
  })

  it('puts the token in place of {token} in the template, and changes nothing else', () => {
    const token = newResetToken()
    expect(resetLink('https://app.example.com/reset-password?token={token}', token)).toBe(
      `https://app.example.com/reset-password?token=${token}`,
    )
    expect(resetLink('https://app.example.com/reset/{token}/confirm#top', token)).toBe(
      `https://app.example.com/reset/${token}/confirm#top`,
    )
  })

  it('adds the token as the query parameter token to a URL without {token}, before any fragment', () => {
    const token = newResetToken()
    expect(resetLink('https://app.example.com/reset-password', token)).toBe(
      `https://app.example.com/reset-password?token=${token}`,
    )
    expect(resetLink('https://app.example.com/#/reset?from=mail', token)).toBe(
      `https://app.example.com/?token=${token}#/reset?from=mail`,
    )
    expect(resetLink('https://app.example.com/reset?lang=en', token)).toBe(
      `https://app.example.com/reset?lang=en&token=${token}`,
    )
  })

  it("keeps the template's origin and path whatever the token holds", () => {
    const template = 'https://app.example.com/reset-password?token={token}&from=mail'
    const hostile = '@evil.example/x?token=stolen&y=$&#frag'
    const link = new URL(resetLink(template, hostile))
    expect(link.origin).toBe('https://app.example.com')
    expect(link.pathname).toBe('/reset-password')
    expect(link.hash).toBe('')
    expect(link.searchParams.getAll('token')).toEqual([hostile])
    expect(link.searchParams.get('from')).toBe('mail')
  })
})
