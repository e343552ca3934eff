import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { type ContractSetup, loadedJob, newHash, registered, requestedReset, uniqueEmail } from './support.ts'

const TTL = 1800

/** The cases every `MailJobRepository` passes. */
export function mailJobRepositoryContract(name: string, setup: ContractSetup) {
  describe(`MailJobRepository: ${name}`, () => {
    describe('load', () => {
      it('loads a job with its recipient as the account is now; no job for an unknown id', async () => {
        const subject = setup()
        const user = await registered(subject)
        const id = await requestedReset(subject, user.email)
        const job = await loadedJob(subject, id)
        expect(job).toEqual({
          id,
          kind: 'password_reset',
          userId: user.id,
          email: user.email,
          userActive: true,
          createdAt: expect.any(Date),
          settled: false,
        })
        await subject.deactivate(user.id)
        expect(await subject.mailJobs.load(id)).toEqual({ ...job, userActive: false })
        expect(await subject.mailJobs.load(randomUUID())).toBeNull()
        expect(await subject.mailJobs.load(await requestedReset(subject, uniqueEmail('nobody')))).toBeNull()
      })
    })

    describe('issueLinkToken', () => {
      it("issues the job's link, live for the link's lifetime", async () => {
        const subject = setup()
        const job = await loadedJob(subject, await requestedReset(subject, (await registered(subject)).email))
        const link = newHash('link')
        expect(await subject.mailJobs.issueLinkToken(job, link, TTL)).toBe('issued')
        expect(await subject.resets.isLive(link)).toBe(true)
      })

      it("voids the user's older link when a newer request's link is issued", async () => {
        const subject = setup()
        const user = await registered(subject)
        const older = await loadedJob(subject, await requestedReset(subject, user.email))
        const olderLink = newHash('older')
        expect(await subject.mailJobs.issueLinkToken(older, olderLink, TTL)).toBe('issued')
        const newer = await loadedJob(subject, await requestedReset(subject, user.email))
        const newerLink = newHash('newer')
        expect(await subject.mailJobs.issueLinkToken(newer, newerLink, TTL)).toBe('issued')
        expect(await subject.resets.isLive(olderLink)).toBe(false)
        expect(await subject.resets.isLive(newerLink)).toBe(true)
      })

      it('issues nothing for a request a newer one superseded, whichever is sent first', async () => {
        const subject = setup()
        const user = await registered(subject)
        const older = await loadedJob(subject, await requestedReset(subject, user.email))
        const newer = await loadedJob(subject, await requestedReset(subject, user.email))
        const olderLink = newHash('older')
        expect(await subject.mailJobs.issueLinkToken(older, olderLink, TTL)).toBe('superseded')
        expect(await subject.resets.isLive(olderLink)).toBe(false)
        const newerLink = newHash('newer')
        expect(await subject.mailJobs.issueLinkToken(newer, newerLink, TTL)).toBe('issued')
        expect(await subject.mailJobs.issueLinkToken(older, newHash('late'), TTL)).toBe('superseded')
        expect(await subject.resets.isLive(newerLink)).toBe(true)
      })

      it("issues nothing for a request older than a link's lifetime", async () => {
        const subject = setup()
        const job = await loadedJob(subject, await requestedReset(subject, (await registered(subject)).email))
        const link = newHash('link')
        expect(await subject.mailJobs.issueLinkToken(job, link, 0)).toBe('expired')
        expect(await subject.resets.isLive(link)).toBe(false)
      })

      it("reads the job's own row, not the caller's copy of it", async () => {
        const subject = setup()
        const user = await registered(subject)
        const older = await loadedJob(subject, await requestedReset(subject, user.email))
        const newer = await loadedJob(subject, await requestedReset(subject, user.email))
        // A copy dated before the older request, and before a link's lifetime: the row is neither.
        const backdated = { ...newer, createdAt: new Date(older.createdAt.getTime() - 2 * TTL * 1000) }
        expect(await subject.mailJobs.issueLinkToken(backdated, newHash('link'), TTL)).toBe('issued')
        expect(
          await subject.mailJobs.issueLinkToken({ ...older, createdAt: new Date() }, newHash(), TTL),
        ).toBe('superseded')
      })

      it('replaces the link of the same job on a retry after a failed send', async () => {
        const subject = setup()
        const job = await loadedJob(subject, await requestedReset(subject, (await registered(subject)).email))
        const failed = newHash('failed')
        const resent = newHash('resent')
        expect(await subject.mailJobs.issueLinkToken(job, failed, TTL)).toBe('issued')
        expect(await subject.mailJobs.issueLinkToken(job, resent, TTL)).toBe('issued')
        expect(await subject.resets.isLive(failed)).toBe(false)
        expect(await subject.resets.isLive(resent)).toBe(true)
      })
    })

    describe('claim, settle and recordFailure', () => {
      it('lets one delivery hold a job; a failure releases it', async () => {
        const subject = setup()
        const job = await loadedJob(subject, await requestedReset(subject, (await registered(subject)).email))
        const delivery = randomUUID()
        expect(await subject.mailJobs.claim(job, 60, delivery)).toBe(true)
        expect(await subject.mailJobs.claim(job, 60, randomUUID())).toBe(false)
        await subject.mailJobs.recordFailure(job, delivery)
        expect(await subject.mailJobs.claim(job, 60, randomUUID())).toBe(true)
      })

      it('answers a retried claim (the same delivery, its answer lost) true, and holds it against others', async () => {
        const subject = setup()
        const job = await loadedJob(subject, await requestedReset(subject, (await registered(subject)).email))
        const delivery = randomUUID()
        expect(await subject.mailJobs.claim(job, 60, delivery)).toBe(true)
        expect(await subject.mailJobs.claim(job, 60, delivery)).toBe(true)
        expect(await subject.mailJobs.claim(job, 60, randomUUID())).toBe(false)
      })

      it("counts a delivery's failure once however often it is sent, and only its own claim's", async () => {
        const subject = setup()
        const job = await loadedJob(subject, await requestedReset(subject, (await registered(subject)).email))
        const delivery = randomUUID()
        expect(await subject.mailJobs.claim(job, 60, delivery)).toBe(true)
        await subject.mailJobs.recordFailure(job, randomUUID())
        expect(await subject.mailJobs.claim(job, 60, randomUUID())).toBe(false)
        await subject.mailJobs.recordFailure(job, delivery)
        await subject.mailJobs.recordFailure(job, delivery)
        expect(await subject.failedAttempts(job.id)).toBe(1)
      })

      it('lets a claim lapse after its seconds (0 here)', async () => {
        const subject = setup()
        const job = await loadedJob(subject, await requestedReset(subject, (await registered(subject)).email))
        expect(await subject.mailJobs.claim(job, 0, randomUUID())).toBe(true)
        expect(await subject.mailJobs.claim(job, 60, randomUUID())).toBe(true)
      })

      it('lets one of two concurrent deliveries claim a job', async () => {
        const subject = setup()
        const job = await loadedJob(subject, await requestedReset(subject, (await registered(subject)).email))
        const answers = await Promise.all([
          subject.mailJobs.claim(job, 60, randomUUID()),
          subject.mailJobs.claim(job, 60, randomUUID()),
        ])
        expect(answers.sort()).toEqual([false, true])
      })

      it('settles a job once: loaded as settled, never claimed again, a failure after it changes nothing', async () => {
        const subject = setup()
        const job = await loadedJob(subject, await requestedReset(subject, (await registered(subject)).email))
        await subject.mailJobs.settle(job, 'sent')
        expect(await subject.mailJobs.load(job.id)).toEqual({ ...job, settled: true })
        expect(await subject.mailJobs.claim(job, 60, randomUUID())).toBe(false)
        await subject.mailJobs.settle(job, 'superseded')
        await subject.mailJobs.recordFailure(job, randomUUID())
        expect(await subject.mailJobs.load(job.id)).toEqual({ ...job, settled: true })
        expect(await subject.mailJobs.claim(job, 0, randomUUID())).toBe(false)
      })

      it('settles a held job without a mail (superseded, expired, inactive)', async () => {
        const subject = setup()
        const user = await registered(subject)
        for (const outcome of ['superseded', 'expired', 'inactive'] as const) {
          const job = await loadedJob(subject, await requestedReset(subject, user.email))
          expect(await subject.mailJobs.claim(job, 60, randomUUID())).toBe(true)
          await subject.mailJobs.settle(job, outcome)
          expect(await subject.mailJobs.load(job.id), outcome).toMatchObject({ settled: true })
        }
      })
    })
  })
}
