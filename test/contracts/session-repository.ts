import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  anHourAgo,
  type ContractSetup,
  type ContractSubject,
  change,
  nextToken,
  registered,
  type StartedSession,
  signedIn,
  storedAccount,
  uniqueContext,
} from './support.ts'

/** Whether the session still serves: its user found through it, and it listed. */
async function isLive(subject: ContractSubject, { user, sessionId }: StartedSession) {
  const found = await subject.sessions.findUser(user.id, sessionId)
  const listed = (await subject.sessions.list(user.id)).some((session) => session.id === sessionId)
  if ((found !== null) !== listed) throw new Error('findUser and list disagree about the session')
  return listed
}

/** The cases every `SessionRepository` passes. */
export function sessionRepositoryContract(name: string, setup: ContractSetup) {
  describe(`SessionRepository: ${name}`, () => {
    describe('rotate', () => {
      it('retires a live token for its successor, which rotates in turn; the retired one does not', async () => {
        const subject = setup()
        const started = await signedIn(subject, await registered(subject))
        const answer = {
          userId: started.user.id,
          sessionId: started.sessionId,
          startedAt: expect.any(Date),
          emailVerified: false,
        }
        const second = nextToken()
        expect(await subject.sessions.rotate(started.refreshHash, second, uniqueContext())).toEqual(answer)
        expect(await subject.sessions.rotate(started.refreshHash, nextToken(), uniqueContext())).toBeNull()
        expect(await subject.sessions.rotate(second.hash, nextToken(), uniqueContext())).toEqual(answer)
      })

      it("answers when the session started (its login): the access token's auth_time", async () => {
        const subject = setup()
        const started = await signedIn(subject, await registered(subject))
        const [session] = await subject.sessions.list(started.user.id)
        const first = nextToken()
        const rotated = await subject.sessions.rotate(started.refreshHash, first, uniqueContext())
        expect(rotated?.startedAt).toEqual(session?.createdAt)
        expect((await subject.sessions.rotate(first.hash, nextToken(), uniqueContext()))?.startedAt).toEqual(
          session?.createdAt,
        )
      })

      it('marks the session used', async () => {
        const subject = setup()
        const started = await signedIn(subject, await registered(subject))
        const [before] = await subject.sessions.list(started.user.id)
        await subject.sessions.rotate(started.refreshHash, nextToken(), uniqueContext())
        const [after] = await subject.sessions.list(started.user.id)
        expect(after?.createdAt).toEqual(before?.createdAt)
        expect(after?.lastUsedAt.getTime()).toBeGreaterThan(before?.lastUsedAt.getTime() ?? Infinity)
      })

      it('answers a retry of a stored rotation as it did, storing one successor', async () => {
        const subject = setup()
        const started = await signedIn(subject, await registered(subject))
        const next = nextToken()
        const answer = {
          userId: started.user.id,
          sessionId: started.sessionId,
          startedAt: expect.any(Date),
          emailVerified: false,
        }
        expect(await subject.sessions.rotate(started.refreshHash, next, uniqueContext())).toEqual(answer)
        expect(await subject.sessions.rotate(started.refreshHash, next, uniqueContext())).toEqual(answer)
        expect(await subject.sessions.rotate(next.hash, nextToken(), uniqueContext())).toEqual(answer)
        expect(await subject.sessions.rotate(next.hash, nextToken(), uniqueContext())).toBeNull()
      })

      it('lets one of two concurrent uses of a token succeed', async () => {
        const subject = setup()
        const started = await signedIn(subject, await registered(subject))
        const answers = await Promise.all(
          [nextToken(), nextToken()].map((next) =>
            subject.sessions.rotate(started.refreshHash, next, uniqueContext()),
          ),
        )
        expect(answers.filter((answer) => answer !== null)).toHaveLength(1)
      })

      describe('within the reuse interval', () => {
        const interval = { session: { reuseIntervalSeconds: 10 } }

        it('rotates a token retired less than the interval ago again, in the same session, each successor live', async () => {
          const subject = setup(interval)
          const started = await signedIn(subject, await registered(subject))
          const answer = {
            userId: started.user.id,
            sessionId: started.sessionId,
            startedAt: expect.any(Date),
            emailVerified: false,
          }
          const first = nextToken()
          const again = nextToken()
          expect(await subject.sessions.rotate(started.refreshHash, first, uniqueContext())).toEqual(answer)
          expect(await subject.sessions.rotate(started.refreshHash, again, uniqueContext())).toEqual(answer)
          expect(await subject.sessions.rotate(first.hash, nextToken(), uniqueContext())).toEqual(answer)
          expect(await subject.sessions.rotate(again.hash, nextToken(), uniqueContext())).toEqual(answer)
          expect(await subject.sessions.list(started.user.id)).toHaveLength(1)
        })

        it('lets every one of concurrent uses of a token succeed, each with a successor of its own', async () => {
          const subject = setup(interval)
          const started = await signedIn(subject, await registered(subject))
          const successors = Array.from({ length: 8 }, () => nextToken())
          const answers = await Promise.all(
            successors.map((next) => subject.sessions.rotate(started.refreshHash, next, uniqueContext())),
          )
          expect(answers).toEqual(
            successors.map(() => ({
              userId: started.user.id,
              sessionId: started.sessionId,
              startedAt: expect.any(Date),
              emailVerified: false,
            })),
          )
          for (const next of successors)
            expect(await subject.sessions.rotate(next.hash, nextToken(), uniqueContext())).not.toBeNull()
        })

        it('counts the interval from the first retirement: a use after it is reuse, and revokes the session', async () => {
          const subject = setup(interval)
          const started = await signedIn(subject, await registered(subject))
          expect(
            await subject.sessions.rotate(started.refreshHash, nextToken(), uniqueContext()),
          ).not.toBeNull()
          await subject.ageRetirement(started.refreshHash, 6)
          // A use within the interval does not restart it.
          expect(
            await subject.sessions.rotate(started.refreshHash, nextToken(), uniqueContext()),
          ).not.toBeNull()
          await subject.ageRetirement(started.refreshHash, 5)
          expect(await subject.sessions.rotate(started.refreshHash, nextToken(), uniqueContext())).toBeNull()
          expect(await subject.sessions.revokeIfReplayed(started.refreshHash, uniqueContext())).toBe(true)
          expect(await isLive(subject, started)).toBe(false)
        })

        it('refuses every token of an ended session, the interval notwithstanding', async () => {
          const subject = setup(interval)
          const started = await signedIn(subject, await registered(subject))
          const next = nextToken()
          expect(await subject.sessions.rotate(started.refreshHash, next, uniqueContext())).not.toBeNull()
          await subject.sessions.revoke(next.hash, uniqueContext())
          expect(await subject.sessions.rotate(started.refreshHash, nextToken(), uniqueContext())).toBeNull()
          expect(await subject.sessions.rotate(next.hash, nextToken(), uniqueContext())).toBeNull()
        })

        it('is off at 0: a retired token never rotates again', async () => {
          const subject = setup({ session: { reuseIntervalSeconds: 0 } })
          const started = await signedIn(subject, await registered(subject))
          expect(
            await subject.sessions.rotate(started.refreshHash, nextToken(), uniqueContext()),
          ).not.toBeNull()
          expect(await subject.sessions.rotate(started.refreshHash, nextToken(), uniqueContext())).toBeNull()
        })
      })

      it('refuses an unknown token', async () => {
        const subject = setup()
        expect(await subject.sessions.rotate('no-such-token', nextToken(), uniqueContext())).toBeNull()
      })

      it('refuses an expired token, which is no replay: the session lives on', async () => {
        const subject = setup()
        const started = await signedIn(subject, await registered(subject), { expiresAt: anHourAgo() })
        expect(await subject.sessions.rotate(started.refreshHash, nextToken(), uniqueContext())).toBeNull()
        expect(await subject.sessions.revokeIfReplayed(started.refreshHash, uniqueContext())).toBe(false)
        expect(await isLive(subject, started)).toBe(true)
      })

      it('gives the successor the expiry it is given: one already expired does not rotate', async () => {
        const subject = setup()
        const started = await signedIn(subject, await registered(subject))
        const expired = nextToken(anHourAgo())
        expect(await subject.sessions.rotate(started.refreshHash, expired, uniqueContext())).not.toBeNull()
        expect(await subject.sessions.rotate(expired.hash, nextToken(), uniqueContext())).toBeNull()
      })

      it('refuses a token of a revoked session', async () => {
        const subject = setup()
        const started = await signedIn(subject, await registered(subject))
        await subject.sessions.end(started.user.id, started.sessionId, uniqueContext())
        expect(await subject.sessions.rotate(started.refreshHash, nextToken(), uniqueContext())).toBeNull()
      })

      it('refuses a token of an inactive account', async () => {
        const subject = setup()
        const started = await signedIn(subject, await registered(subject))
        await subject.deactivate(started.user.id)
        expect(await subject.sessions.rotate(started.refreshHash, nextToken(), uniqueContext())).toBeNull()
      })

      it('refuses a live token of a session older than the session lifetime (shortened since the login)', async () => {
        const subject = setup()
        const started = await signedIn(subject, await registered(subject))
        const shortened = subject.withPolicies({ session: { maxAgeSeconds: 0 } })
        expect(await shortened.sessions.rotate(started.refreshHash, nextToken(), uniqueContext())).toBeNull()
        expect(await shortened.sessions.findUser(started.user.id, started.sessionId)).toBeNull()
        expect(await shortened.sessions.list(started.user.id)).toEqual([])
        // The token was neither retired nor the session revoked: under the old lifetime it still rotates.
        expect(
          await subject.sessions.rotate(started.refreshHash, nextToken(), uniqueContext()),
        ).not.toBeNull()
      })
    })

    describe('revokeIfReplayed and revoke', () => {
      it("revokes a retired token's session, and answers true for it each time", async () => {
        const subject = setup()
        const started = await signedIn(subject, await registered(subject))
        const next = nextToken()
        await subject.sessions.rotate(started.refreshHash, next, uniqueContext())
        expect(await subject.sessions.revokeIfReplayed(started.refreshHash, uniqueContext())).toBe(true)
        expect(await subject.sessions.rotate(next.hash, nextToken(), uniqueContext())).toBeNull()
        expect(await isLive(subject, started)).toBe(false)
        expect(await subject.sessions.revokeIfReplayed(started.refreshHash, uniqueContext())).toBe(true)
      })

      it('answers false for a live or an unknown token, revoking nothing', async () => {
        const subject = setup()
        const started = await signedIn(subject, await registered(subject))
        expect(await subject.sessions.revokeIfReplayed(started.refreshHash, uniqueContext())).toBe(false)
        expect(await subject.sessions.revokeIfReplayed('no-such-token', uniqueContext())).toBe(false)
        expect(await isLive(subject, started)).toBe(true)
      })

      it('revokes the session of any of its tokens, retired, live or expired', async () => {
        const subject = setup()
        const user = await registered(subject)
        for (const member of ['retired', 'live', 'expired'] as const) {
          const started = await signedIn(
            subject,
            user,
            member === 'expired' ? { expiresAt: anHourAgo() } : {},
          )
          const next = nextToken()
          if (member !== 'expired') await subject.sessions.rotate(started.refreshHash, next, uniqueContext())
          await subject.sessions.revoke(member === 'live' ? next.hash : started.refreshHash, uniqueContext())
          expect(await isLive(subject, started), member).toBe(false)
          expect(await subject.sessions.rotate(next.hash, nextToken(), uniqueContext()), member).toBeNull()
        }
      })

      it('takes an unknown token, or a second logout, without complaint and without touching other sessions', async () => {
        const subject = setup()
        const user = await registered(subject)
        const kept = await signedIn(subject, user)
        const ended = await signedIn(subject, user)
        await subject.sessions.revoke('no-such-token', uniqueContext())
        await subject.sessions.revoke(ended.refreshHash, uniqueContext())
        await subject.sessions.revoke(ended.refreshHash, uniqueContext())
        expect(await isLive(subject, ended)).toBe(false)
        expect(await isLive(subject, kept)).toBe(true)
      })
    })

    describe('findUser', () => {
      it('finds the active user through a live session of theirs, or with no session named', async () => {
        const subject = setup()
        const started = await signedIn(subject, await registered(subject))
        expect(await subject.sessions.findUser(started.user.id, started.sessionId)).toEqual(started.user)
        expect(await subject.sessions.findUser(started.user.id, null)).toEqual(started.user)
      })

      it("finds no one through another user's session, or one that does not exist", async () => {
        const subject = setup()
        const mine = await signedIn(subject, await registered(subject))
        const theirs = await signedIn(subject, await registered(subject))
        expect(await subject.sessions.findUser(mine.user.id, theirs.sessionId)).toBeNull()
        expect(await subject.sessions.findUser(mine.user.id, randomUUID())).toBeNull()
        expect(await subject.sessions.findUser(2_000_000_000, null)).toBeNull()
      })

      it('finds no one through a revoked session, nor an inactive user at all', async () => {
        const subject = setup()
        const started = await signedIn(subject, await registered(subject))
        await subject.sessions.revoke(started.refreshHash, uniqueContext())
        expect(await subject.sessions.findUser(started.user.id, started.sessionId)).toBeNull()
        expect(await subject.sessions.findUser(started.user.id, null)).not.toBeNull()
        const other = await signedIn(subject, await registered(subject))
        await subject.deactivate(other.user.id)
        expect(await subject.sessions.findUser(other.user.id, other.sessionId)).toBeNull()
        expect(await subject.sessions.findUser(other.user.id, null)).toBeNull()
      })
    })

    describe('list, end and endAll', () => {
      it("lists the user's live sessions, newest first, and no one else's", async () => {
        const subject = setup()
        const user = await registered(subject)
        const first = await signedIn(subject, user)
        const second = await signedIn(subject, user)
        const revoked = await signedIn(subject, user)
        await subject.sessions.revoke(revoked.refreshHash, uniqueContext())
        await signedIn(subject, await registered(subject))
        expect((await subject.sessions.list(user.id)).map((session) => session.id)).toEqual([
          second.sessionId,
          first.sessionId,
        ])
      })

      it('lists at most maxPerUser sessions, the newest, even when more live (the cap lowered since)', async () => {
        const subject = setup({ session: { maxPerUser: 100 } })
        const user = await registered(subject)
        const started = []
        for (let index = 0; index < 4; index++) started.push((await signedIn(subject, user)).sessionId)
        const lowered = subject.withPolicies({ session: { maxPerUser: 2 } })
        expect((await lowered.sessions.list(user.id)).map((session) => session.id)).toEqual(
          started.slice(2).reverse(),
        )
        expect(await subject.sessions.list(user.id)).toHaveLength(4)
      })

      it("ends one of the user's sessions, true again when repeated; the others live on", async () => {
        const subject = setup()
        const user = await registered(subject)
        const ended = await signedIn(subject, user)
        const kept = await signedIn(subject, user)
        expect(await subject.sessions.end(user.id, ended.sessionId, uniqueContext())).toBe(true)
        expect(await isLive(subject, ended)).toBe(false)
        expect(await subject.sessions.rotate(ended.refreshHash, nextToken(), uniqueContext())).toBeNull()
        expect(await subject.sessions.end(user.id, ended.sessionId, uniqueContext())).toBe(true)
        expect(await isLive(subject, kept)).toBe(true)
      })

      it("answers false for another user's session, leaving it live, and for an unknown one", async () => {
        const subject = setup()
        const mine = await signedIn(subject, await registered(subject))
        const theirs = await signedIn(subject, await registered(subject))
        expect(await subject.sessions.end(mine.user.id, theirs.sessionId, uniqueContext())).toBe(false)
        expect(await isLive(subject, theirs)).toBe(true)
        expect(await subject.sessions.end(mine.user.id, randomUUID(), uniqueContext())).toBe(false)
      })

      it("ends every session of the user, and no one else's", async () => {
        const subject = setup()
        const user = await registered(subject)
        const sessions = [await signedIn(subject, user), await signedIn(subject, user)]
        const theirs = await signedIn(subject, await registered(subject))
        await subject.sessions.endAll(user.id, uniqueContext())
        expect(await subject.sessions.list(user.id)).toEqual([])
        for (const session of sessions)
          expect(await subject.sessions.rotate(session.refreshHash, nextToken(), uniqueContext())).toBeNull()
        expect(await isLive(subject, theirs)).toBe(true)
      })
    })

    describe('changePassword', () => {
      it('stores the new hash, keeps the session named, revokes the others, clears the count, queues the notice', async () => {
        const subject = setup({ login: { maxFailures: 3 } })
        const user = await registered(subject)
        const kept = await signedIn(subject, user)
        const other = await signedIn(subject, user)
        await subject.logins.begin({ id: randomUUID(), email: user.email }, uniqueContext())
        await subject.logins.begin({ id: randomUUID(), email: user.email }, uniqueContext())
        const request = change(user, kept.sessionId, 'new-hash')
        expect(await subject.sessions.changePassword(request, uniqueContext())).toBe(true)
        expect(await isLive(subject, kept)).toBe(true)
        expect(await isLive(subject, other)).toBe(false)
        expect(await subject.sessions.rotate(other.refreshHash, nextToken(), uniqueContext())).toBeNull()
        const after = await subject.logins.begin({ id: randomUUID(), email: user.email }, uniqueContext())
        expect(after.number).toBe(1)
        expect(after.user).toMatchObject({ hashedPassword: 'new-hash', passwordCarriedOver: false })
        expect(after.user?.updatedAt.getTime()).toBeGreaterThan(user.updatedAt.getTime())
        expect(await subject.mailJobs.load(request.noticeId)).toEqual({
          id: request.noticeId,
          kind: 'password_changed',
          userId: user.id,
          email: user.email,
          userActive: true,
          createdAt: expect.any(Date),
          settled: false,
        })
      })

      it('clears the carried-over mark', async () => {
        const subject = setup()
        const user = await registered(subject)
        await subject.logins.upgradeHash({ user, hash: 'carried', carriedOver: true })
        const carried = await storedAccount(subject, user.email)
        if (!carried?.passwordCarriedOver) throw new Error('the account is not carried over')
        expect(await subject.sessions.changePassword(change(carried, null, 'own'), uniqueContext())).toBe(
          true,
        )
        expect(await storedAccount(subject, user.email)).toMatchObject({
          hashedPassword: 'own',
          passwordCarriedOver: false,
        })
      })

      it('revokes every session when none is kept', async () => {
        const subject = setup()
        const user = await registered(subject)
        const sessions = [await signedIn(subject, user), await signedIn(subject, user)]
        expect(await subject.sessions.changePassword(change(user, null), uniqueContext())).toBe(true)
        expect(await subject.sessions.list(user.id)).toEqual([])
        for (const session of sessions) expect(await isLive(subject, session)).toBe(false)
      })

      it('changes nothing, and answers false, when the credential moved on since the check', async () => {
        const subject = setup()
        const user = await registered(subject)
        const session = await signedIn(subject, user)
        const stale = change({ ...user, credentialVersion: user.credentialVersion - 1 }, session.sessionId)
        expect(await subject.sessions.changePassword(stale, uniqueContext())).toBe(false)
        expect(await storedAccount(subject, user.email)).toMatchObject({
          hashedPassword: user.hashedPassword,
        })
        expect(await subject.mailJobs.load(stale.noticeId)).toBeNull()
        expect(await isLive(subject, session)).toBe(true)
      })

      it("changes nothing when the session named is revoked, or someone else's", async () => {
        const subject = setup()
        const user = await registered(subject)
        const revoked = await signedIn(subject, user)
        const live = await signedIn(subject, user)
        await subject.sessions.revoke(revoked.refreshHash, uniqueContext())
        const theirs = await signedIn(subject, await registered(subject))
        for (const sessionId of [revoked.sessionId, theirs.sessionId, randomUUID()]) {
          const request = change(user, sessionId)
          expect(await subject.sessions.changePassword(request, uniqueContext())).toBe(false)
          expect(await subject.mailJobs.load(request.noticeId)).toBeNull()
        }
        expect(await storedAccount(subject, user.email)).toMatchObject({
          hashedPassword: user.hashedPassword,
        })
        expect(await isLive(subject, live)).toBe(true)
      })

      it('changes nothing for an inactive account', async () => {
        const subject = setup()
        const user = await registered(subject)
        await subject.deactivate(user.id)
        expect(await subject.sessions.changePassword(change(user, null), uniqueContext())).toBe(false)
        expect(await storedAccount(subject, user.email)).toMatchObject({
          hashedPassword: user.hashedPassword,
        })
      })

      it('answers a retry (same id) true without applying it again; another change of the old hash fails', async () => {
        const subject = setup()
        const user = await registered(subject)
        const request = change(user, null, 'changed-once')
        expect(await subject.sessions.changePassword(request, uniqueContext())).toBe(true)
        const changed = await storedAccount(subject, user.email)
        if (!changed) throw new Error('the account is gone')
        const after = await signedIn(subject, changed)
        expect(await subject.sessions.changePassword(request, uniqueContext())).toBe(true)
        expect(await isLive(subject, after)).toBe(true)
        expect(await subject.sessions.changePassword(change(user, null), uniqueContext())).toBe(false)
        expect(await storedAccount(subject, user.email)).toMatchObject({ hashedPassword: 'changed-once' })
      })

      it("bumps the credential's version, so a login checked before it starts no session", async () => {
        const subject = setup()
        const user = await registered(subject)
        expect(await subject.sessions.changePassword(change(user, null), uniqueContext())).toBe(true)
        expect(await storedAccount(subject, user.email)).toMatchObject({
          credentialVersion: user.credentialVersion + 1,
        })
      })

      it("succeeds after a login's rehash of the current password (a rehash keeps the version)", async () => {
        const subject = setup()
        const user = await registered(subject)
        expect(await subject.logins.upgradeHash({ user, hash: 'rehashed', carriedOver: false })).toBe(true)
        expect(await subject.sessions.changePassword(change(user, null, 'new'), uniqueContext())).toBe(true)
        expect(await storedAccount(subject, user.email)).toMatchObject({ hashedPassword: 'new' })
      })

      it('lets one of two concurrent changes of the same hash succeed', async () => {
        const subject = setup()
        const user = await registered(subject)
        const answers = await Promise.all(
          [change(user, null, 'first'), change(user, null, 'second')].map((request) =>
            subject.sessions.changePassword(request, uniqueContext()),
          ),
        )
        expect(answers.sort()).toEqual([false, true])
      })
    })
  })
}
