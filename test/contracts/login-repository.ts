import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { UserRecord } from '#shared/domain/users'
import {
  anHourAgo,
  type ContractSetup,
  type ContractSubject,
  change,
  inAnHour,
  newHash,
  nextToken,
  registered,
  signedIn,
  storedAccount,
  uniqueContext,
  uniqueEmail,
} from './support.ts'

const attempt = (email: string) => ({ id: randomUUID(), email })

/** A session for the account as it was when its password was checked. */
const newSession = (user: UserRecord) => ({
  id: randomUUID(),
  user,
  refreshTokenHash: newHash('refresh'),
  refreshTokenExpiresAt: inAnHour(),
})

/** The numbers and refusals of `count` checks of the email in a row. */
async function checks(subject: ContractSubject, email: string, count: number) {
  const answers = []
  for (let index = 0; index < count; index++) {
    const { number, refusedForSeconds } = await subject.logins.begin(attempt(email), uniqueContext())
    answers.push({ number, refused: refusedForSeconds !== null })
  }
  return answers
}

/** The cases every `LoginRepository` passes. */
export function loginRepositoryContract(name: string, setup: ContractSetup) {
  describe(`LoginRepository: ${name}`, () => {
    describe('upgradeHash', () => {
      it('stores the stronger hash and whether it is still carried over, keeping the version', async () => {
        const subject = setup()
        const user = await registered(subject)
        expect(await subject.logins.upgradeHash({ user, hash: 'stronger', carriedOver: true })).toBe(true)
        const stored = await storedAccount(subject, user.email)
        expect(stored).toMatchObject({
          hashedPassword: 'stronger',
          passwordCarriedOver: true,
          credentialVersion: user.credentialVersion,
        })
        if (!stored) throw new Error('the account is gone')
        expect(await subject.logins.upgradeHash({ user: stored, hash: 'own', carriedOver: false })).toBe(true)
        expect(await storedAccount(subject, user.email)).toMatchObject({
          hashedPassword: 'own',
          passwordCarriedOver: false,
        })
      })

      it("writes nothing once another login's rehash replaced the hash it checked", async () => {
        const subject = setup()
        const user = await registered(subject)
        expect(await subject.logins.upgradeHash({ user, hash: 'first', carriedOver: false })).toBe(true)
        expect(await subject.logins.upgradeHash({ user, hash: 'second', carriedOver: false })).toBe(false)
        expect(await storedAccount(subject, user.email)).toMatchObject({ hashedPassword: 'first' })
      })

      it('writes nothing over a password changed since the check', async () => {
        const subject = setup()
        const user = await registered(subject)
        expect(await subject.sessions.changePassword(change(user, null, 'new'), uniqueContext())).toBe(true)
        expect(await subject.logins.upgradeHash({ user, hash: 'old-rehashed', carriedOver: false })).toBe(
          false,
        )
        expect(await storedAccount(subject, user.email)).toMatchObject({
          hashedPassword: 'new',
          credentialVersion: user.credentialVersion + 1,
        })
      })
    })

    describe('begin and recordFailure', () => {
      it('reads the account by email and counts the check, for an unknown email too', async () => {
        const subject = setup()
        const user = await registered(subject)
        const context = uniqueContext()
        const known = attempt(user.email)
        expect(await subject.logins.begin(known, context)).toEqual({
          ...known,
          user,
          refusedForSeconds: null,
          number: 1,
        })
        const unknown = attempt(uniqueEmail('nobody'))
        expect(await subject.logins.begin(unknown, context)).toEqual({
          ...unknown,
          user: null,
          refusedForSeconds: null,
          number: 1,
        })
      })

      it('reads an inactive account as it is (the service refuses it after the compare)', async () => {
        const subject = setup()
        const user = await registered(subject)
        await subject.deactivate(user.id)
        const { user: read } = await subject.logins.begin(attempt(user.email), uniqueContext())
        expect(read).toMatchObject({ id: user.id, isActive: false })
      })

      it('lets exactly maxFailures checks run, and refuses the next ones unchecked for the rest of the lock', async () => {
        const subject = setup({ login: { maxFailures: 3, windowSeconds: 600 } })
        const user = await registered(subject)
        expect(await checks(subject, user.email, 5)).toEqual([
          { number: 1, refused: false },
          { number: 2, refused: false },
          { number: 3, refused: false },
          { number: 4, refused: true },
          { number: 5, refused: true },
        ])
        const { refusedForSeconds } = await subject.logins.begin(attempt(user.email), uniqueContext())
        expect(refusedForSeconds).toBeGreaterThanOrEqual(1)
        expect(refusedForSeconds).toBeLessThanOrEqual(600)
      })

      it('lets at most maxFailures of many concurrent checks run', async () => {
        const subject = setup({ login: { maxFailures: 3 } })
        const email = uniqueEmail()
        const answers = await Promise.all(
          Array.from({ length: 8 }, () => subject.logins.begin(attempt(email), uniqueContext())),
        )
        expect(answers.filter((answer) => answer.refusedForSeconds === null)).toHaveLength(3)
        expect(answers.map((answer) => answer.number).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
      })

      it('counts a retried reservation (same attempt id) once', async () => {
        const subject = setup()
        const email = uniqueEmail()
        const first = attempt(email)
        expect((await subject.logins.begin(first, uniqueContext())).number).toBe(1)
        expect((await subject.logins.begin(first, uniqueContext())).number).toBe(1)
        expect((await subject.logins.begin(attempt(email), uniqueContext())).number).toBe(2)
      })

      it('starts the count over once the lock has ended (a window of 0 seconds)', async () => {
        const subject = setup({ login: { maxFailures: 1, windowSeconds: 0 } })
        const email = uniqueEmail()
        expect(await checks(subject, email, 3)).toEqual([
          { number: 1, refused: false },
          { number: 1, refused: false },
          { number: 1, refused: false },
        ])
      })

      it('refuses the source address past its failures, for the seconds left, whatever the email', async () => {
        const subject = setup({ login: { ipMaxFailures: 2, ipWindowSeconds: 600 } })
        const context = uniqueContext()
        for (let index = 0; index < 2; index++) {
          const failed = await subject.logins.begin(attempt(uniqueEmail()), context)
          expect(failed.refusedForSeconds).toBeNull()
          await subject.logins.recordFailure(failed, context)
        }
        const refused = await subject.logins.begin(attempt(uniqueEmail()), context)
        expect(refused.refusedForSeconds).toBeGreaterThanOrEqual(1)
        expect(refused.refusedForSeconds).toBeLessThanOrEqual(600)
        // Another address is not refused.
        expect(
          (await subject.logins.begin(attempt(uniqueEmail()), uniqueContext())).refusedForSeconds,
        ).toBeNull()
      })

      it('counts only recorded failures against the address, and a retried record once', async () => {
        const subject = setup({ login: { ipMaxFailures: 2 } })
        const context = uniqueContext()
        for (let index = 0; index < 3; index++) {
          expect((await subject.logins.begin(attempt(uniqueEmail()), context)).refusedForSeconds).toBeNull()
        }
        const failed = await subject.logins.begin(attempt(uniqueEmail()), context)
        await subject.logins.recordFailure(failed, context)
        await subject.logins.recordFailure(failed, context)
        const second = await subject.logins.begin(attempt(uniqueEmail()), context)
        expect(second.refusedForSeconds).toBeNull()
        await subject.logins.recordFailure(second, context)
        expect((await subject.logins.begin(attempt(uniqueEmail()), context)).refusedForSeconds).not.toBeNull()
      })
    })

    describe('startSession', () => {
      it('stores the session and its first token, with the request it came from', async () => {
        const subject = setup()
        const user = await registered(subject)
        const context = uniqueContext('contract-browser')
        const session = newSession(user)
        expect(await subject.logins.startSession(session, context)).toBe(true)
        expect(await subject.sessions.findUser(user.id, session.id)).toEqual(user)
        expect(await subject.sessions.list(user.id)).toEqual([
          {
            id: session.id,
            createdAt: expect.any(Date),
            lastUsedAt: expect.any(Date),
            sourceIp: context.sourceIp,
            userAgent: 'contract-browser',
          },
        ])
        expect(await subject.sessions.rotate(session.refreshTokenHash, nextToken(), context)).toEqual({
          userId: user.id,
          sessionId: session.id,
          startedAt: expect.any(Date),
        })
      })

      it('stores an empty address or agent as none, and an agent cut to 512 characters', async () => {
        const subject = setup()
        const user = await registered(subject)
        const quiet = newSession(user)
        await subject.logins.startSession(quiet, { sourceIp: '', userAgent: '' })
        const chatty = newSession(user)
        await subject.logins.startSession(chatty, { sourceIp: '', userAgent: 'x'.repeat(600) })
        const listed = await subject.sessions.list(user.id)
        expect(listed.find((session) => session.id === quiet.id)).toMatchObject({
          sourceIp: null,
          userAgent: null,
        })
        expect(listed.find((session) => session.id === chatty.id)?.userAgent).toBe('x'.repeat(512))
      })

      it("clears the email's failed-check count", async () => {
        const subject = setup({ login: { maxFailures: 3 } })
        const user = await registered(subject)
        await checks(subject, user.email, 2)
        await subject.logins.startSession(newSession(user), uniqueContext())
        expect(await checks(subject, user.email, 1)).toEqual([{ number: 1, refused: false }])
      })

      it('starts nothing for an account deactivated since its password was checked', async () => {
        const subject = setup()
        const user = await registered(subject)
        await subject.deactivate(user.id)
        const session = newSession(user)
        expect(await subject.logins.startSession(session, uniqueContext())).toBe(false)
        expect(await subject.sessions.list(user.id)).toEqual([])
        expect(
          await subject.sessions.rotate(session.refreshTokenHash, nextToken(), uniqueContext()),
        ).toBeNull()
      })

      it('starts nothing when the password was changed since it was checked', async () => {
        const subject = setup()
        const user = await registered(subject)
        expect(await subject.sessions.changePassword(change(user, null, 'replaced'), uniqueContext())).toBe(
          true,
        )
        const session = newSession(user)
        expect(await subject.logins.startSession(session, uniqueContext())).toBe(false)
        expect(await subject.sessions.list(user.id)).toEqual([])
        expect(
          await subject.sessions.rotate(session.refreshTokenHash, nextToken(), uniqueContext()),
        ).toBeNull()
        expect(await storedAccount(subject, user.email)).toMatchObject({ hashedPassword: 'replaced' })
      })

      it("starts the session after another login's rehash of the same password (the version stays)", async () => {
        const subject = setup()
        const user = await registered(subject)
        expect(await subject.logins.upgradeHash({ user, hash: 'stronger', carriedOver: false })).toBe(true)
        expect(await storedAccount(subject, user.email)).toMatchObject({
          hashedPassword: 'stronger',
          credentialVersion: user.credentialVersion,
        })
        expect(await subject.logins.startSession(newSession(user), uniqueContext())).toBe(true)
      })

      it('answers a retry of a stored session true, storing it once', async () => {
        const subject = setup()
        const user = await registered(subject)
        const session = newSession(user)
        expect(await subject.logins.startSession(session, uniqueContext())).toBe(true)
        expect(await subject.logins.startSession(session, uniqueContext())).toBe(true)
        expect((await subject.sessions.list(user.id)).map((listed) => listed.id)).toEqual([session.id])
      })

      it('keeps the expiry given to the first token: one already expired does not rotate', async () => {
        const subject = setup()
        const { refreshHash, user, sessionId } = await signedIn(subject, await registered(subject), {
          expiresAt: anHourAgo(),
        })
        expect(await subject.sessions.rotate(refreshHash, nextToken(), uniqueContext())).toBeNull()
        expect(await subject.sessions.findUser(user.id, sessionId)).toEqual(user)
      })

      it("ends the first token with the session's lifetime, however late its expiry", async () => {
        const subject = setup({ session: { maxAgeSeconds: 0 } })
        const { refreshHash, user, sessionId } = await signedIn(subject, await registered(subject))
        // Rotated under a longer lifetime, the session is young enough, but its token ended with the first one.
        const later = subject.withPolicies({ session: { maxAgeSeconds: 86_400 } })
        expect(await later.sessions.findUser(user.id, sessionId)).toEqual(user)
        expect(await later.sessions.rotate(refreshHash, nextToken(), uniqueContext())).toBeNull()
      })
    })
  })
}
