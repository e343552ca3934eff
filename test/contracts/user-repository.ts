import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { EmailTakenError, UsernameTakenError } from '#shared/domain/errors'
import {
  type ContractSetup,
  newHash,
  registered,
  storedAccount,
  uniqueContext,
  uniqueEmail,
  uniqueUsername,
} from './support.ts'

/** The cases every `UserRepository` passes. */
export function userRepositoryContract(name: string, setup: ContractSetup) {
  describe(`UserRepository: ${name}`, () => {
    it('registers an active, ordinary account and returns it as stored', async () => {
      const subject = setup()
      const email = uniqueEmail()
      const username = uniqueUsername()
      const user = await subject.users.register(
        { email, username, hashedPassword: 'hash-1' },
        uniqueContext(),
      )
      expect(user).toEqual({
        id: expect.any(Number),
        email,
        username,
        hashedPassword: 'hash-1',
        isActive: true,
        isSuperuser: false,
        createdAt: expect.any(Date),
        updatedAt: user.createdAt,
        passwordCarriedOver: false,
        credentialVersion: 0,
        linksRevokedAt: null,
        emailVerified: false,
      })
      expect(await storedAccount(subject, email)).toEqual(user)
    })

    it('ignores a NewUser asking to be a superuser', async () => {
      const subject = setup()
      const email = uniqueEmail()
      const user = await subject.users.register(
        { email, username: null, hashedPassword: newHash(), isSuperuser: true },
        uniqueContext(),
      )
      expect(user.isSuperuser).toBe(false)
    })

    it('refuses a taken email with EmailTakenError, and stores nothing', async () => {
      const subject = setup()
      const first = await registered(subject)
      await expect(
        registered(subject, { email: first.email, username: uniqueUsername() }),
      ).rejects.toBeInstanceOf(EmailTakenError)
      expect(await storedAccount(subject, first.email)).toEqual(first)
    })

    it('refuses a taken username whatever its case with UsernameTakenError; no username never conflicts', async () => {
      const subject = setup()
      const username = uniqueUsername()
      await registered(subject, { username })
      const email = uniqueEmail()
      await expect(registered(subject, { email, username: username.toUpperCase() })).rejects.toBeInstanceOf(
        UsernameTakenError,
      )
      expect(await storedAccount(subject, email)).toBeNull()
      await registered(subject, { username: null })
      await expect(registered(subject, { username: null })).resolves.toMatchObject({ username: null })
    })

    it('answers a retry (same email, same hash) with the stored account, storing it once', async () => {
      const subject = setup()
      const context = uniqueContext()
      const user = { email: uniqueEmail(), username: uniqueUsername(), hashedPassword: newHash() }
      const stored = await subject.users.register(user, context)
      expect(await subject.users.register(user, context)).toEqual(stored)
      expect(await subject.users.register(user, context)).toEqual(stored)
      expect(await storedAccount(subject, user.email)).toEqual(stored)
    })

    it("refuses the address's registration past its limit, for the seconds left of its window", async () => {
      const subject = setup({ registration: { maxPerWindow: 2, windowSeconds: 600 } })
      const context = uniqueContext()
      expect(await subject.users.reserveRegistration(randomUUID(), context)).toEqual({
        refusedForSeconds: null,
      })
      expect(await subject.users.reserveRegistration(randomUUID(), context)).toEqual({
        refusedForSeconds: null,
      })
      const { refusedForSeconds } = await subject.users.reserveRegistration(randomUUID(), context)
      expect(refusedForSeconds).toBeGreaterThanOrEqual(1)
      expect(refusedForSeconds).toBeLessThanOrEqual(600)
      // Another address is not limited.
      expect(await subject.users.reserveRegistration(randomUUID(), uniqueContext())).toEqual({
        refusedForSeconds: null,
      })
    })

    it('counts a retried reservation (same id) once', async () => {
      const subject = setup({ registration: { maxPerWindow: 2 } })
      const context = uniqueContext()
      const id = randomUUID()
      for (let index = 0; index < 3; index++) {
        expect(await subject.users.reserveRegistration(id, context)).toEqual({ refusedForSeconds: null })
      }
      expect(await subject.users.reserveRegistration(randomUUID(), context)).toEqual({
        refusedForSeconds: null,
      })
      expect(
        (await subject.users.reserveRegistration(randomUUID(), context)).refusedForSeconds,
      ).not.toBeNull()
    })

    it('keeps the count of a registration the insert refuses (a taken username or email): register undoes nothing', async () => {
      const subject = setup({ registration: { maxPerWindow: 2 } })
      const context = uniqueContext()
      const holder = await registered(subject, { username: uniqueUsername() })
      expect(await subject.users.reserveRegistration(randomUUID(), context)).toEqual({
        refusedForSeconds: null,
      })
      await expect(
        registered(subject, { username: holder.username?.toUpperCase() ?? null }, context),
      ).rejects.toBeInstanceOf(UsernameTakenError)
      expect(await subject.users.reserveRegistration(randomUUID(), context)).toEqual({
        refusedForSeconds: null,
      })
      await expect(registered(subject, { email: holder.email }, context)).rejects.toBeInstanceOf(
        EmailTakenError,
      )
      expect(
        (await subject.users.reserveRegistration(randomUUID(), context)).refusedForSeconds,
      ).not.toBeNull()
    })

    it('starts the count over once the window has passed (a window of 0 seconds)', async () => {
      const subject = setup({ registration: { maxPerWindow: 1, windowSeconds: 0 } })
      const context = uniqueContext()
      expect(await subject.users.reserveRegistration(randomUUID(), context)).toEqual({
        refusedForSeconds: null,
      })
      expect(await subject.users.reserveRegistration(randomUUID(), context)).toEqual({
        refusedForSeconds: null,
      })
    })

    it('of two registrations of one email at once, stores one and refuses the other with EmailTakenError', async () => {
      const subject = setup()
      const email = uniqueEmail()
      const outcomes = await Promise.allSettled([
        registered(subject, { email }),
        registered(subject, { email }),
      ])
      expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1)
      const rejected = outcomes.find((outcome) => outcome.status === 'rejected')
      expect(rejected?.status === 'rejected' && rejected.reason).toBeInstanceOf(EmailTakenError)
    })

    it('inserts a superuser, then answers the holder of the email: created only for the hash it was given', async () => {
      const subject = setup()
      const context = uniqueContext()
      const admin = { email: uniqueEmail('admin'), username: uniqueUsername(), hashedPassword: newHash() }
      const first = await subject.users.insertSuperuser(admin, context)
      expect(first).toEqual({
        created: true,
        user: expect.objectContaining({ email: admin.email, isSuperuser: true, isActive: true }),
      })
      expect(await subject.users.insertSuperuser(admin, context)).toEqual(first)
      expect(await subject.users.insertSuperuser({ ...admin, hashedPassword: newHash() }, context)).toEqual({
        created: false,
        user: first.user,
      })
    })

    it("answers an ordinary account's email without making it a superuser", async () => {
      const subject = setup()
      const user = await registered(subject)
      const seeded = await subject.users.insertSuperuser(
        { email: user.email, username: null, hashedPassword: newHash() },
        uniqueContext(),
      )
      expect(seeded).toEqual({ created: false, user })
    })

    it('does not count a superuser, nor a registration, against the registration limit', async () => {
      const subject = setup({ registration: { maxPerWindow: 1 } })
      const context = uniqueContext()
      await subject.users.insertSuperuser(
        { email: uniqueEmail(), username: null, hashedPassword: newHash() },
        context,
      )
      await expect(registered(subject, {}, context)).resolves.toMatchObject({ isSuperuser: false })
      expect(await subject.users.reserveRegistration(randomUUID(), context)).toEqual({
        refusedForSeconds: null,
      })
    })
  })
}
