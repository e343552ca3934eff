import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { UserRecord } from '#shared/domain/users'
import {
  type ContractSetup,
  type ContractSubject,
  change,
  completion,
  loadedJob,
  newHash,
  nextToken,
  registered,
  requestedReset,
  resetLink,
  signedIn,
  storedAccount,
  uniqueContext,
  uniqueEmail,
} from './support.ts'

/** A reset request with a fresh id; its answer and the id. */
async function request(
  subject: ContractSubject,
  email: string,
  context = uniqueContext(),
  id = randomUUID(),
) {
  const answer = await subject.resets.request({ id, email, emailKey: `key-${email}` }, context)
  return { id, refused: answer.refusedForSeconds, answer }
}

/** The cases every `PasswordResetRepository` passes. */
export function passwordResetRepositoryContract(name: string, setup: ContractSetup) {
  describe(`PasswordResetRepository: ${name}`, () => {
    describe('request', () => {
      it("queues a reset mail job with the request's id for an active account", async () => {
        const subject = setup()
        const user = await registered(subject)
        const { id, answer } = await request(subject, user.email)
        expect(answer).toEqual({ refusedForSeconds: null })
        expect(await subject.mailJobs.load(id)).toEqual({
          id,
          kind: 'password_reset',
          userId: user.id,
          email: user.email,
          userActive: true,
          createdAt: expect.any(Date),
          settled: false,
        })
      })

      it('answers an unknown email, or an inactive account, alike, queuing nothing', async () => {
        const subject = setup()
        const inactive = await registered(subject)
        await subject.deactivate(inactive.id)
        for (const email of [uniqueEmail('nobody'), inactive.email]) {
          const { id, answer } = await request(subject, email)
          expect(answer).toEqual({ refusedForSeconds: null })
          expect(await subject.mailJobs.load(id)).toBeNull()
        }
      })

      it("refuses the email's requests past its limit, from any address, for the seconds left; queues nothing", async () => {
        const subject = setup({ reset: { emailLimit: 2, windowSeconds: 600 } })
        const user = await registered(subject)
        await request(subject, user.email)
        await request(subject, user.email)
        const refused = await request(subject, user.email)
        expect(refused.refused).toBeGreaterThanOrEqual(1)
        expect(refused.refused).toBeLessThanOrEqual(600)
        expect(await subject.mailJobs.load(refused.id)).toBeNull()
        // An unknown email is limited the same way.
        const nobody = uniqueEmail('nobody')
        await request(subject, nobody)
        await request(subject, nobody)
        expect((await request(subject, nobody)).refused).not.toBeNull()
      })

      it("refuses the address's requests past its limit, whatever the email", async () => {
        const subject = setup({ reset: { ipLimit: 2, windowSeconds: 600 } })
        const context = uniqueContext()
        const user = await registered(subject)
        expect((await request(subject, uniqueEmail(), context)).refused).toBeNull()
        expect((await request(subject, uniqueEmail(), context)).refused).toBeNull()
        const refused = await request(subject, user.email, context)
        expect(refused.refused).toBeGreaterThanOrEqual(1)
        expect(refused.refused).toBeLessThanOrEqual(600)
        expect(await subject.mailJobs.load(refused.id)).toBeNull()
        expect((await request(subject, user.email)).refused).toBeNull()
      })

      it('counts a refused request against both limits all the same', async () => {
        const subject = setup({ reset: { emailLimit: 1, ipLimit: 2 } })
        const context = uniqueContext()
        const email = uniqueEmail()
        expect((await request(subject, email, context)).refused).toBeNull()
        expect((await request(subject, email, context)).refused).not.toBeNull()
        // The address made two requests: a third, for another email, is past its limit.
        expect((await request(subject, uniqueEmail(), context)).refused).not.toBeNull()
      })

      it("counts nothing against the email of a request the address's limit refused", async () => {
        const subject = setup({ reset: { emailLimit: 1, ipLimit: 1, windowSeconds: 600 } })
        const context = uniqueContext()
        expect((await request(subject, uniqueEmail(), context)).refused).toBeNull()
        const email = uniqueEmail()
        expect((await request(subject, email, context)).refused).not.toBeNull()
        // The email's first counted request in the window, from another address: so no counter was written for it.
        expect((await request(subject, email)).refused).toBeNull()
      })

      it('counts a retried request (same id) once, queues its job once, and answers it as before', async () => {
        const subject = setup({ reset: { emailLimit: 1 } })
        const user = await registered(subject)
        const context = uniqueContext()
        const first = await request(subject, user.email, context)
        const retry = await request(subject, user.email, context, first.id)
        expect(retry.answer).toEqual({ refusedForSeconds: null })
        expect(await subject.mailJobs.load(first.id)).toMatchObject({ id: first.id, settled: false })
        const refused = await request(subject, user.email, context)
        expect(refused.refused).not.toBeNull()
        expect((await request(subject, user.email, context, refused.id)).refused).not.toBeNull()
        expect(await subject.mailJobs.load(refused.id)).toBeNull()
      })

      it('starts the counts over once the window has passed (a window of 0 seconds)', async () => {
        const subject = setup({ reset: { emailLimit: 1, ipLimit: 1, windowSeconds: 0 } })
        const context = uniqueContext()
        const email = uniqueEmail()
        expect((await request(subject, email, context)).refused).toBeNull()
        expect((await request(subject, email, context)).refused).toBeNull()
      })
    })

    describe('isLive and complete', () => {
      it("reads a stored link as live; an unknown one, or an inactive user's, as not", async () => {
        const subject = setup()
        const user = await registered(subject)
        const link = await resetLink(subject, user)
        expect(await subject.resets.isLive(link)).toBe(true)
        expect(await subject.resets.isLive('no-such-link')).toBe(false)
        await subject.deactivate(user.id)
        expect(await subject.resets.isLive(link)).toBe(false)
        expect(await subject.resets.complete(completion(link), uniqueContext())).toBe(false)
      })

      it('stores the new hash, uses the link up, revokes every session, clears the count, queues the notice', async () => {
        const subject = setup({ login: { maxFailures: 3 } })
        const user = await registered(subject)
        const sessions = [await signedIn(subject, user), await signedIn(subject, user)]
        await subject.logins.begin({ id: randomUUID(), email: user.email }, uniqueContext())
        const link = await resetLink(subject, user)
        const done = completion(link, 'reset-hash')
        expect(await subject.resets.complete(done, uniqueContext())).toBe(true)
        expect(await subject.resets.isLive(link)).toBe(false)
        expect(await subject.sessions.list(user.id)).toEqual([])
        for (const session of sessions) {
          expect(await subject.sessions.findUser(user.id, session.sessionId)).toBeNull()
          expect(await subject.sessions.rotate(session.refreshHash, nextToken(), uniqueContext())).toBeNull()
        }
        const after = await subject.logins.begin({ id: randomUUID(), email: user.email }, uniqueContext())
        expect(after.number).toBe(1)
        expect(after.user).toMatchObject({
          hashedPassword: 'reset-hash',
          passwordCarriedOver: false,
          credentialVersion: user.credentialVersion + 1,
        })
        expect(await subject.mailJobs.load(done.noticeId)).toMatchObject({
          id: done.noticeId,
          kind: 'password_changed',
          userId: user.id,
          settled: false,
        })
      })

      it('uses a link once: a second completion with another id answers false and changes nothing', async () => {
        const subject = setup()
        const user = await registered(subject)
        const link = await resetLink(subject, user)
        expect(await subject.resets.complete(completion(link, 'first'), uniqueContext())).toBe(true)
        const second = completion(link, 'second')
        expect(await subject.resets.complete(second, uniqueContext())).toBe(false)
        expect(await subject.mailJobs.load(second.noticeId)).toBeNull()
        expect(await storedAccount(subject, user.email)).toMatchObject({ hashedPassword: 'first' })
      })

      it('answers a retry (same id) true without applying it again', async () => {
        const subject = setup()
        const user = await registered(subject)
        const done = completion(await resetLink(subject, user), 'reset-once')
        expect(await subject.resets.complete(done, uniqueContext())).toBe(true)
        const reset = await storedAccount(subject, user.email)
        if (!reset) throw new Error('the account is gone')
        const after = await signedIn(subject, reset)
        expect(await subject.resets.complete(done, uniqueContext())).toBe(true)
        expect(await subject.sessions.findUser(user.id, after.sessionId)).not.toBeNull()
      })

      it('answers an unknown link false', async () => {
        const subject = setup()
        expect(await subject.resets.complete(completion('no-such-link'), uniqueContext())).toBe(false)
      })

      describe('links die with the password', () => {
        /** What voids the account's links, each as the service does it. */
        const voiders: Record<string, (subject: ContractSubject, user: UserRecord) => Promise<void>> = {
          'a password change': async (subject, user) => {
            const current = await storedAccount(subject, user.email)
            if (!current) throw new Error('the account is gone')
            expect(await subject.sessions.changePassword(change(current, null), uniqueContext())).toBe(true)
          },
          'ending every session': (subject, user) => subject.sessions.endAll(user.id, uniqueContext()),
          // Reactivated at once: the link stays void all the same.
          'a deactivation': async (subject, user) => {
            await subject.deactivate(user.id)
            await subject.reactivate(user.id)
          },
          'a reset with a newer link': async (subject, user) => {
            // The newer request's link replaces the older one; its use must void any mail of the older still unsent.
            expect(
              await subject.resets.complete(completion(await resetLink(subject, user)), uniqueContext()),
            ).toBe(true)
          },
        }

        for (const [name, voidLinks] of Object.entries(voiders)) {
          it(`voids a link stored before ${name}`, async () => {
            const subject = setup()
            const user = await registered(subject)
            const link = await resetLink(subject, user)
            await voidLinks(subject, user)
            expect(await subject.resets.isLive(link)).toBe(false)
            expect(await subject.resets.complete(completion(link), uniqueContext())).toBe(false)
          })

          it(`issues no link for a request made before ${name}, whose mail was still unsent`, async () => {
            const subject = setup()
            const user = await registered(subject)
            const job = await loadedJob(subject, await requestedReset(subject, user.email))
            await voidLinks(subject, user)
            expect(await subject.mailJobs.issueLinkToken(job, newHash('late'), 1800)).toBe('superseded')
          })
        }

        it('refuses a link put back by an issue that raced the change: its request predates the change', async () => {
          const subject = setup()
          const user = await registered(subject)
          const link = await resetLink(subject, user)
          const putBack = await subject.keepResetLink(user.id)
          await voiders['a password change']?.(subject, user)
          await putBack()
          expect(await subject.resets.isLive(link)).toBe(false)
          expect(await subject.resets.complete(completion(link), uniqueContext())).toBe(false)
        })

        it('still issues and honours a link requested after the change', async () => {
          const subject = setup()
          const user = await registered(subject)
          await voiders['a password change']?.(subject, user)
          const link = await resetLink(subject, user)
          expect(await subject.resets.isLive(link)).toBe(true)
          expect(await subject.resets.complete(completion(link), uniqueContext())).toBe(true)
        })
      })

      it('lets one of two concurrent completions with one link succeed', async () => {
        const subject = setup()
        const user = await registered(subject)
        const link = await resetLink(subject, user)
        // Both begun before either commits: a link read but not used up would let the second through too (a second
        // completion after the first is refused anyway, by the change that voids every older link).
        const answers = await subject.overlapping(
          user.id,
          'where t.token_hash = ',
          [completion(link), completion(link)].map(
            (done) => () => subject.resets.complete(done, uniqueContext()),
          ),
        )
        expect(answers.sort()).toEqual([false, true])
      })
    })
  })
}
