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
const newSession = (user: UserRecord, reservation: string | null = null) => ({
  id: randomUUID(),
  user,
  reservation,
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
          reservation: expect.any(String),
        })
        const unknown = attempt(uniqueEmail('nobody'))
        expect(await subject.logins.begin(unknown, context)).toEqual({
          ...unknown,
          user: null,
          refusedForSeconds: null,
          number: 1,
          reservation: expect.any(String),
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

      it('refuses the source address past its checks, for the seconds left, whatever the email', async () => {
        const subject = setup({ login: { ipMaxFailures: 2, ipWindowSeconds: 600 } })
        const context = uniqueContext()
        for (let index = 0; index < 2; index++) {
          const failed = await subject.logins.begin(attempt(uniqueEmail()), context)
          expect(failed.refusedForSeconds).toBeNull()
          await subject.logins.recordFailure(failed, context)
        }
        const refused = await subject.logins.begin(attempt(uniqueEmail()), context)
        expect(refused).toMatchObject({ number: 0, reservation: null })
        expect(refused.refusedForSeconds).toBeGreaterThanOrEqual(1)
        expect(refused.refusedForSeconds).toBeLessThanOrEqual(600)
        // Another address is not refused.
        expect(
          (await subject.logins.begin(attempt(uniqueEmail()), uniqueContext())).refusedForSeconds,
        ).toBeNull()
      })

      it('takes the address its place before the compare: at most ipMaxFailures of many concurrent checks run', async () => {
        const subject = setup({ login: { ipMaxFailures: 3 } })
        const context = uniqueContext()
        const answers = await Promise.all(
          Array.from({ length: 12 }, () => subject.logins.begin(attempt(uniqueEmail()), context)),
        )
        const checked = answers.filter((answer) => answer.refusedForSeconds === null)
        expect(checked).toHaveLength(3)
        expect(checked.every((answer) => answer.reservation !== null)).toBe(true)
        expect(answers.filter((answer) => answer.reservation === null)).toHaveLength(9)
      })

      it('counts a failure once on the address: recording it, even twice, takes no second place', async () => {
        const subject = setup({ login: { ipMaxFailures: 2 } })
        const context = uniqueContext()
        const failed = await subject.logins.begin(attempt(uniqueEmail()), context)
        await subject.logins.recordFailure(failed, context)
        await subject.logins.recordFailure(failed, context)
        expect((await subject.logins.begin(attempt(uniqueEmail()), context)).refusedForSeconds).toBeNull()
        expect((await subject.logins.begin(attempt(uniqueEmail()), context)).refusedForSeconds).not.toBeNull()
      })

      it('counts a retried reservation (same attempt id) once on the address, and answers its place again', async () => {
        const subject = setup({ login: { ipMaxFailures: 2 } })
        const context = uniqueContext()
        const first = attempt(uniqueEmail())
        const answer = await subject.logins.begin(first, context)
        expect(await subject.logins.begin(first, context)).toEqual(answer)
        expect((await subject.logins.begin(attempt(uniqueEmail()), context)).refusedForSeconds).toBeNull()
        expect((await subject.logins.begin(attempt(uniqueEmail()), context)).refusedForSeconds).not.toBeNull()
      })

      it("takes no place of the address for an attempt the email's lock refuses", async () => {
        const subject = setup({ login: { maxFailures: 1, ipMaxFailures: 3 } })
        const context = uniqueContext()
        const email = uniqueEmail()
        expect(await subject.logins.begin(attempt(email), context)).toMatchObject({ refusedForSeconds: null })
        for (let index = 0; index < 3; index++) {
          const locked = await subject.logins.begin(attempt(email), context)
          expect(locked).toMatchObject({ number: index + 2, reservation: null })
          expect(locked.refusedForSeconds).not.toBeNull()
        }
        for (let index = 0; index < 2; index++) {
          expect((await subject.logins.begin(attempt(uniqueEmail()), context)).refusedForSeconds).toBeNull()
        }
        expect((await subject.logins.begin(attempt(uniqueEmail()), context)).refusedForSeconds).not.toBeNull()
      })

      it('gives a place back on release, once however often it is sent', async () => {
        const subject = setup({ login: { ipMaxFailures: 2 } })
        const context = uniqueContext()
        const first = await subject.logins.begin(attempt(uniqueEmail()), context)
        await subject.logins.begin(attempt(uniqueEmail()), context)
        await subject.logins.release(first, context)
        await subject.logins.release(first, context)
        expect((await subject.logins.begin(attempt(uniqueEmail()), context)).refusedForSeconds).toBeNull()
        expect((await subject.logins.begin(attempt(uniqueEmail()), context)).refusedForSeconds).not.toBeNull()
      })

      it('gives nothing back to a window that has started over since the place was taken', async () => {
        const subject = setup({ login: { ipMaxFailures: 1, ipWindowSeconds: 0 } })
        const context = uniqueContext()
        const old = await subject.logins.begin(attempt(uniqueEmail()), context)
        // A window of 0 seconds has passed: this check starts a new one, and fills it.
        const current = await subject.logins.begin(attempt(uniqueEmail()), context)
        expect(current.reservation).not.toBe(old.reservation)
        await subject.logins.release(old, context)
        const later = subject.withPolicies({ login: { ipMaxFailures: 1, ipWindowSeconds: 600 } })
        expect((await later.logins.begin(attempt(uniqueEmail()), context)).refusedForSeconds).not.toBeNull()
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
          emailVerified: false,
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

      it('gives the checked attempt its place in the address back, in the window it was taken in', async () => {
        const subject = setup({ login: { ipMaxFailures: 2 } })
        const user = await registered(subject)
        const context = uniqueContext()
        const checked = await subject.logins.begin(attempt(user.email), context)
        const other = await subject.logins.begin(attempt(uniqueEmail()), context)
        expect(other.refusedForSeconds).toBeNull()
        if (!checked.user) throw new Error('no account')
        const session = newSession(checked.user, checked.reservation)
        expect(await subject.logins.startSession(session, context)).toBe(true)
        // A retry of the statement gives nothing back twice.
        expect(await subject.logins.startSession(session, context)).toBe(true)
        expect((await subject.logins.begin(attempt(uniqueEmail()), context)).refusedForSeconds).toBeNull()
        expect((await subject.logins.begin(attempt(uniqueEmail()), context)).refusedForSeconds).not.toBeNull()
      })

      it('ends the oldest live sessions past maxPerUser, keeping the newest and the new one', async () => {
        const subject = setup({ session: { maxPerUser: 3 } })
        const user = await registered(subject)
        const started: string[] = []
        for (let index = 0; index < 5; index++) started.push((await signedIn(subject, user)).sessionId)
        expect((await subject.sessions.list(user.id)).map((session) => session.id)).toEqual(
          started.slice(2).reverse(),
        )
        for (const [index, sessionId] of started.entries()) {
          expect(await subject.sessions.findUser(user.id, sessionId)).toEqual(index < 2 ? null : user)
        }
        // Another user's sessions are not counted.
        const other = await registered(subject)
        const theirs = await signedIn(subject, other)
        expect(await subject.sessions.findUser(other.id, theirs.sessionId)).toEqual(other)
      })

      it('counts only live sessions towards the cap: ended ones leave room', async () => {
        const subject = setup({ session: { maxPerUser: 2 } })
        const user = await registered(subject)
        const first = await signedIn(subject, user)
        const second = await signedIn(subject, user)
        await subject.sessions.end(user.id, second.sessionId, uniqueContext())
        const third = await signedIn(subject, user)
        expect((await subject.sessions.list(user.id)).map((session) => session.id)).toEqual([
          third.sessionId,
          first.sessionId,
        ])
      })

      it('never leaves more than maxPerUser live sessions after concurrent logins', async () => {
        const subject = setup({ session: { maxPerUser: 3 } })
        const user = await registered(subject)
        const started: string[] = []
        for (let index = 0; index < 3; index++) started.push((await signedIn(subject, user)).sessionId)
        for (let round = 0; round < 4; round++) {
          const concurrent = await Promise.all(Array.from({ length: 3 }, () => signedIn(subject, user)))
          started.push(...concurrent.map((session) => session.sessionId))
          const live = []
          for (const sessionId of started) {
            if (await subject.sessions.findUser(user.id, sessionId)) live.push(sessionId)
          }
          expect(live).toHaveLength(3)
          // The ones kept are the newest: the last round's.
          expect(live.sort()).toEqual(concurrent.map((session) => session.sessionId).sort())
        }
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
