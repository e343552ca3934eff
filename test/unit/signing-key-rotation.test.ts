import { randomUUID } from 'node:crypto'
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startLocalSecretsManager } from '#infra/local/secrets-manager'
import { createSigningKeyRotation, ROTATION_STEPS } from '#shared/app/signing-key-rotation'
import {
  EarlyRotationError,
  MIN_PUBLICATION_MS,
  newSigningKeySet,
  parseSigningKeySet,
  rotateSigningKeys,
  type SigningKeySet,
} from '#shared/domain/signing-keys'

/**
 * The rotation protocol against the local Secrets Manager (its real wire protocol, its staging-label rules), through
 * the SDK client the function uses: the same stand-in the bundle test runs the deployed bundle against, so the
 * protocol is checked once, on one model of the service, and the serialization of every call comes with it.
 */
const SIGNING = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:SigningKeys-AbCdEf'
const PUBLIC = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:PublicKeys-AbCdEf'
const START = new Date('2025-03-01T08:00:00.000Z')

let values: Map<string, string>
let fake: Awaited<ReturnType<typeof startLocalSecretsManager>>
let client: SecretsManagerClient
let now: Date
let rotation: ReturnType<typeof createSigningKeyRotation>

beforeEach(async () => {
  // Placeholders as the stack creates them: generated text, not a key set.
  values = new Map([
    [SIGNING, `placeholder-${randomUUID()}`],
    [PUBLIC, `placeholder-${randomUUID()}`],
  ])
  fake = await startLocalSecretsManager(values)
  client = new SecretsManagerClient({
    endpoint: fake.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDROTATIONTEST', secretAccessKey: 'rotation-test' },
  })
  now = START
  rotation = createSigningKeyRotation({ client, publicKeysSecretId: PUBLIC, now: () => now })
})
afterEach(async () => {
  client.destroy()
  await fake.close()
})

const step = (Step: string, token: string) =>
  rotation.rotate({ Step, SecretId: SIGNING, ClientRequestToken: token })

/** A whole rotation, as Secrets Manager runs one: AWSPENDING on a new empty version, then the four steps in order. */
async function rotate(token = randomUUID()) {
  fake.startRotation(SIGNING, token)
  for (const name of ROTATION_STEPS) await step(name, token)
  return token
}

const currentSet = (): SigningKeySet => {
  const set = parseSigningKeySet(values.get(SIGNING) ?? '')
  if (!set) throw new Error('AWSCURRENT is not a key set')
  return set
}
const publishedKids = () =>
  (JSON.parse(values.get(PUBLIC) ?? '') as { keys: { kid: string }[] }).keys.map((key) => key.kid)
const pendingVersions = () =>
  Object.values(fake.stages(SIGNING)).filter((stages) => stages.includes('AWSPENDING'))
const callsTo = (operation: string, secretId: string) =>
  fake.calls.filter((call) => call === `${operation} ${secretId}`).length

describe('the signing keys rotation', () => {
  it('makes the first key set from the placeholder, and publishes its two public keys only', async () => {
    const token = await rotate()

    const set = currentSet()
    expect(set.previous).toBeNull()
    expect(set.current.createdAt).toBe(START.toISOString())
    expect(set.next.kid).not.toBe(set.current.kid)
    const published = JSON.parse(values.get(PUBLIC) ?? '')
    expect(published).toEqual({ keys: [set.current.publicJwk, set.next.publicJwk] })
    expect(values.get(PUBLIC)).not.toMatch(/PRIVATE KEY|"d":/)
    // AWSCURRENT on the new version, AWSPREVIOUS on the placeholder, no rotation left in progress.
    expect(fake.stages(SIGNING)[token]).toEqual(['AWSCURRENT'])
    expect(Object.values(fake.stages(SIGNING))).toContainEqual(['AWSPREVIOUS'])
    expect(pendingVersions()).toEqual([])
  })

  it('moves each key one place later on: next signs, current stays published as previous, a new next', async () => {
    await rotate()
    const before = currentSet()
    now = new Date(START.getTime() + MIN_PUBLICATION_MS)
    await rotate()

    const after = currentSet()
    expect(after.current).toEqual(before.next)
    expect(after.previous).toEqual(before.current)
    expect(after.next.kid).not.toBe(before.current.kid)
    expect(after.next.kid).not.toBe(before.next.kid)
    expect(after.next.createdAt).toBe(now.toISOString())
    expect(publishedKids()).toEqual([after.current.kid, after.next.kid, before.current.kid])
    expect(pendingVersions()).toEqual([])
  })

  it('publishes the new next key in setSecret, before AWSCURRENT moves, with the key that signs until then', async () => {
    await rotate()
    const before = currentSet()
    now = new Date(START.getTime() + MIN_PUBLICATION_MS)
    const token = randomUUID()
    fake.startRotation(SIGNING, token)
    await step('createSecret', token)
    await step('setSecret', token)

    // Still signing with the old current, which the published set keeps, beside the next key to come.
    expect(currentSet()).toEqual(before)
    expect(publishedKids()).toContain(before.current.kid)
    expect(publishedKids()).toHaveLength(3)
  })

  it('answers each step invoked again as it did the first time, changing nothing more', async () => {
    await rotate()
    now = new Date(START.getTime() + MIN_PUBLICATION_MS)
    const token = randomUUID()
    fake.startRotation(SIGNING, token)
    const writes = callsTo('PutSecretValue', SIGNING)

    const created = await step('createSecret', token)
    const pending = fake.stages(SIGNING)
    expect(await step('createSecret', token)).toEqual({ ...created, outcome: 'already done' })
    expect(callsTo('PutSecretValue', SIGNING)).toBe(writes + 1)
    expect(fake.stages(SIGNING)).toEqual(pending)

    await step('setSecret', token)
    const published = values.get(PUBLIC)
    const publicVersions = Object.keys(fake.stages(PUBLIC))
    await step('setSecret', token)
    expect(values.get(PUBLIC)).toBe(published)
    expect(Object.keys(fake.stages(PUBLIC))).toEqual(publicVersions)

    await step('testSecret', token)
    await step('testSecret', token)

    expect(await step('finishSecret', token)).toEqual({ step: 'finishSecret', outcome: 'done' })
    const finished = values.get(SIGNING)
    const stages = fake.stages(SIGNING)
    // Once the version is current, every step is done already, as AWS's template answers.
    for (const name of ROTATION_STEPS)
      expect(await step(name, token), name).toEqual({ step: name, outcome: 'already done' })
    expect(values.get(SIGNING)).toBe(finished)
    expect(fake.stages(SIGNING)).toEqual(stages)
    expect(currentSet().current.kid).toBe(created.kids?.current)
  })

  it('refuses a rotation while the next key is not yet published long enough, and changes nothing', async () => {
    await rotate()
    const set = values.get(SIGNING)
    const published = values.get(PUBLIC)
    const signingStages = fake.stages(SIGNING)
    const publicStages = fake.stages(PUBLIC)
    const writes = callsTo('PutSecretValue', SIGNING) + callsTo('PutSecretValue', PUBLIC)
    now = new Date(START.getTime() + MIN_PUBLICATION_MS - 1000)

    const token = randomUUID()
    fake.startRotation(SIGNING, token)
    const ready = new Date(START.getTime() + MIN_PUBLICATION_MS).toISOString()
    await expect(step('createSecret', token)).rejects.toThrow(
      `the next signing key was published at ${START.toISOString()}; a cache may not have it yet: rotate after ${ready}`,
    )
    // Secrets Manager stops the rotation at the failed step; were it asked again, the version is no longer pending.
    await expect(step('setSecret', token)).rejects.toThrow(`version ${token} has no stage for rotation`)

    expect(values.get(SIGNING)).toBe(set)
    expect(values.get(PUBLIC)).toBe(published)
    expect(fake.stages(SIGNING)).toEqual(signingStages)
    expect(fake.stages(PUBLIC)).toEqual(publicStages)
    expect(callsTo('PutSecretValue', SIGNING) + callsTo('PutSecretValue', PUBLIC)).toBe(writes)

    // No rotation is left in progress: once the time has come, the next one runs.
    now = new Date(START.getTime() + MIN_PUBLICATION_MS)
    await rotate()
    expect(currentSet().previous?.kid).toBe(parseSigningKeySet(set ?? '')?.current.kid)
  })

  it('fails testSecret on a pending set whose published key does not verify what its private key signs', async () => {
    await rotate()
    now = new Date(START.getTime() + MIN_PUBLICATION_MS)
    const token = randomUUID()
    fake.startRotation(SIGNING, token)
    const { current, next } = currentSet()
    const swapped = {
      current: next,
      next: { ...current, publicJwk: next.publicJwk, kid: next.kid },
      previous: current,
    }
    await client.send(
      new PutSecretValueCommand({
        SecretId: SIGNING,
        ClientRequestToken: token,
        SecretString: JSON.stringify(swapped),
        VersionStages: ['AWSPENDING'],
      }),
    )
    await expect(step('testSecret', token)).rejects.toThrow(
      /its published key does not verify what it signs|repeats a key id/,
    )
  })

  it('refuses a step for a version that is not pending, and a step it does not know', async () => {
    await rotate()
    await expect(step('createSecret', randomUUID())).rejects.toThrow(/has no stage for rotation/)
    const token = randomUUID()
    fake.startRotation(SIGNING, token)
    await expect(step('rotateEverything', token)).rejects.toThrow('unknown rotation step rotateEverything')
  })
})

describe('rotateSigningKeys', () => {
  it('waits, besides the caches, for the last tokens of the key it withdraws to expire', () => {
    const made = new Date('2026-01-01T00:00:00Z')
    const set = newSigningKeySet(made)
    const threeHours = new Date(made.getTime() + 3 * 3600 * 1000)
    // Three hours: past the caches' two hours, so a 15-minute token lifetime allows it ...
    expect(rotateSigningKeys(set, threeHours, 900).previous?.kid).toBe(set.current.kid)
    // ... but not a 24-hour lifetime: tokens the withdrawn key signed could still be valid.
    expect(() => rotateSigningKeys(set, threeHours, 86_400)).toThrow(EarlyRotationError)
  })
})
