import { randomUUID } from 'node:crypto'
import {
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startLocalSecretsManager } from '#infra/local/secrets-manager'
import { createSigningKeyRotation, ROTATION_STEPS } from '#shared/app/signing-key-rotation'
import {
  EarlyRotationError,
  generateSigningKey,
  newSigningKeySet,
  parseSigningKeySet,
  rotateSigningKeys,
  type SigningKeySet,
} from '#shared/domain/signing-keys'
import {
  CLOCK_SKEW_MARGIN_MS,
  GATEWAY_JWKS_CACHE_MS,
  KEY_SET_MAX_AGE_MS,
  MIN_PUBLICATION_MS,
  retiredKeyTokensLiveMs,
  WELL_KNOWN_MAX_AGE_SECONDS,
} from '#shared/platform/key-rotation-timing'
import { INTEGER_SETTINGS } from '#shared/platform/settings'

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
  rotation = rotationWithTtl(INTEGER_SETTINGS.ACCESS_TOKEN_TTL_SECONDS.default)
})
afterEach(async () => {
  client.destroy()
  await fake.close()
})

/** The rotation function as deployed with ACCESS_TOKEN_TTL_SECONDS set to `ttlSeconds`. */
const rotationWithTtl = (ttlSeconds: number) =>
  createSigningKeyRotation({
    client,
    publicKeysSecretId: PUBLIC,
    accessTokenTtlSeconds: ttlSeconds,
    now: () => now,
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

const PEM = /-----BEGIN PRIVATE KEY-----[^-]+-----END PRIVATE KEY-----\n?/g
/** Every private key any labelled version of the key set holds (what DescribeSecret lists), as PEM. */
async function storedPrivateKeys(): Promise<string[]> {
  const keys = new Set<string>()
  for (const versionId of Object.keys(fake.stages(SIGNING))) {
    const { SecretString } = await client.send(
      new GetSecretValueCommand({ SecretId: SIGNING, VersionId: versionId }),
    )
    // JSON escapes a PEM's line breaks; the keys compared as PEM.
    const text = (SecretString ?? '').replaceAll('\\n', '\n')
    for (const match of text.match(PEM) ?? []) keys.add(match)
  }
  return [...keys].sort()
}
const privateKeysOf = (set: SigningKeySet) => [set.current.privateKey, set.next.privateKey].sort()
const publicHalf = ({ kid, publicJwk, createdAt }: SigningKeySet['current']) => ({
  kid,
  publicJwk,
  createdAt,
})

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
    // AWSCURRENT on the new version, no rotation left in progress, and no label left on the placeholder.
    expect(fake.stages(SIGNING)).toEqual({ [token]: ['AWSCURRENT'] })
    expect(pendingVersions()).toEqual([])
  })

  it('moves each key one place later on: next signs, current stays published as previous, a new next', async () => {
    await rotate()
    const before = currentSet()
    now = new Date(START.getTime() + MIN_PUBLICATION_MS)
    await rotate()

    const after = currentSet()
    expect(after.current).toEqual(before.next)
    expect(after.previous).toEqual(publicHalf(before.current))
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

describe('the first key set, which the deploy asks the function for, without an event', () => {
  const writes = () => fake.calls.filter((call) => call.startsWith('PutSecretValue'))

  it('is made from the placeholder, published before it is stored, and a second run changes nothing', async () => {
    const outcome = await rotation.firstKeySet(SIGNING)

    const set = currentSet()
    expect(outcome).toEqual({
      outcome: 'done',
      kids: { current: set.current.kid, next: set.next.kid, previous: null },
    })
    expect(publishedKids()).toEqual([set.current.kid, set.next.kid])
    // Published first: no function can sign with a key that is not published yet.
    expect(writes()).toEqual([`PutSecretValue ${PUBLIC}`, `PutSecretValue ${SIGNING}`])
    expect(pendingVersions()).toEqual([])

    const stored = [values.get(SIGNING), values.get(PUBLIC)]
    expect((await rotation.firstKeySet(SIGNING)).outcome).toBe('already done')
    expect([values.get(SIGNING), values.get(PUBLIC)]).toEqual(stored)
    expect(writes()).toHaveLength(2)
  })

  it('leaves a key set as it is: a deploy that changes the function, or the rollback of one, rotates nothing', async () => {
    await rotate()
    const stored = [values.get(SIGNING), values.get(PUBLIC)]
    const before = writes().length
    const outcome = await rotation.firstKeySet(SIGNING)
    expect(outcome).toEqual({
      outcome: 'already done',
      kids: expect.objectContaining({ current: currentSet().current.kid }),
    })
    expect([values.get(SIGNING), values.get(PUBLIC)]).toEqual(stored)
    expect(writes()).toHaveLength(before)
  })

  it('is rotated as any key set, once its next key has been published long enough', async () => {
    await rotation.firstKeySet(SIGNING)
    const first = currentSet()
    now = new Date(START.getTime() + MIN_PUBLICATION_MS)
    await rotate()
    expect(currentSet().current.kid).toBe(first.next.kid)
    expect(currentSet().previous?.kid).toBe(first.current.kid)
  })
})

describe('a change of the rotation schedule, and its rollback: Secrets Manager’s configuration test', () => {
  /** Everything a test could change: the two secrets' values and labels, and the writes made to them. */
  const state = () => ({
    signing: values.get(SIGNING),
    published: values.get(PUBLIC),
    signingStages: fake.stages(SIGNING),
    publicStages: fake.stages(PUBLIC),
    writes: ['PutSecretValue', 'UpdateSecretVersionStage'].flatMap((operation) =>
      [SIGNING, PUBLIC].map((secret) => callsTo(operation, secret)),
    ),
  })
  /** What CloudFormation's update of the schedule makes Secrets Manager do: testSecret alone, then the label off. */
  async function configurationTest(holds: 'a copy of AWSCURRENT' | 'nothing') {
    const token = randomUUID()
    fake.startConfigurationTest(SIGNING, token, holds)
    const outcome = await step('testSecret', token)
    fake.endConfigurationTest(SIGNING, token)
    return outcome
  }

  it.each(['a copy of AWSCURRENT', 'nothing'] as const)(
    'is answered on the placeholder of a stack being created, changing nothing (its version holding %s)',
    async (holds) => {
      const before = state()
      expect(await configurationTest(holds)).toEqual({ step: 'testSecret', outcome: 'configuration test' })
      expect(state()).toEqual(before)
    },
  )

  it.each(['a copy of AWSCURRENT', 'nothing'] as const)(
    'is answered right after a rotation, when another would be refused, changing nothing (its version holding %s)',
    async (holds) => {
      // A deploy changed signingKeyRotationDays, then failed: its rollback changes the schedule back, minutes after the
      // last rotation, whose next key is too recent to sign.
      await rotate()
      const before = state()
      now = new Date(START.getTime() + 60_000)

      expect(await configurationTest(holds)).toEqual({ step: 'testSecret', outcome: 'configuration test' })

      expect(state()).toEqual(before)
      expect(pendingVersions()).toEqual([])
      // A rotation asked for now is still refused by the guard: the test rotated nothing.
      const token = randomUUID()
      fake.startRotation(SIGNING, token)
      await expect(step('createSecret', token)).rejects.toThrow(/a cache may not have it yet/)
    },
  )

  it('is answered when Secrets Manager puts AWSPENDING on the current version itself', async () => {
    await rotate()
    const [current] =
      Object.entries(fake.stages(SIGNING)).find(([, stages]) => stages.includes('AWSCURRENT')) ?? []
    const before = state()
    expect(await step('testSecret', current ?? '')).toEqual({ step: 'testSecret', outcome: 'already done' })
    expect(state()).toEqual(before)
  })

  it('cannot start while a rotation is pending: Secrets Manager refuses before the function runs', async () => {
    // What remains for continue-update-rollback (docs/deploying.md, Rollbacks): a rotation that failed and waits.
    fake.startRotation(SIGNING, randomUUID())
    expect(() => fake.startConfigurationTest(SIGNING, randomUUID(), 'nothing')).toThrow(
      'A previous rotation isn’t complete. That rotation will be reattempted.',
    )
  })
})

describe('the private keys the key set keeps', () => {
  const HOUR = 3600 * 1000
  const at = (ms: number) => new Date(START.getTime() + ms)

  it('are those of current and next only, in every labelled version, rotation after rotation', async () => {
    await rotate()
    expect(await storedPrivateKeys()).toEqual(privateKeysOf(currentSet()))
    for (let round = 1; round <= 3; round++) {
      const before = currentSet()
      now = at(round * MIN_PUBLICATION_MS)
      await rotate()
      const after = currentSet()
      // The key that stopped signing: published still, its private key gone from the set and from AWSPREVIOUS.
      expect(after.previous).toEqual(publicHalf(before.current))
      expect(values.get(SIGNING)).not.toContain(JSON.stringify(before.current.privateKey))
      expect(publishedKids()).toContain(before.current.kid)
      expect(await storedPrivateKeys()).toEqual(privateKeysOf(after))
      expect(Object.values(fake.stages(SIGNING)).flat().sort()).toEqual(['AWSCURRENT'])
    }
  })

  it('with a 24-hour access token: a retired key stays published, without its private key, until its tokens expired', async () => {
    const ttlSeconds = 24 * 3600
    rotation = rotationWithTtl(ttlSeconds)
    await rotate()
    const first = currentSet()
    // The next key has waited out a token's lifetime and the caches: it signs, the first key retires.
    const wait = retiredKeyTokensLiveMs(ttlSeconds)
    now = at(wait)
    await rotate()
    const second = currentSet()
    expect(second.previous).toEqual(publicHalf(first.current))
    expect(await storedPrivateKeys()).toEqual(privateKeysOf(second))
    expect(await storedPrivateKeys()).not.toContain(first.current.privateKey)

    // Long after the caches' two hours, but within the lifetime of the first key's last token: refused, so that
    // key stays published while no version holds its private key.
    now = at(wait + MIN_PUBLICATION_MS + 20 * HOUR)
    const token = randomUUID()
    fake.startRotation(SIGNING, token)
    await expect(step('createSecret', token)).rejects.toThrow(EarlyRotationError)
    expect(currentSet()).toEqual(second)
    expect(publishedKids()).toEqual([second.current.kid, second.next.kid, first.current.kid])
    expect(await storedPrivateKeys()).toEqual(privateKeysOf(second))

    // Once every token of the first key has expired: withdrawn, and the second retires in its place.
    now = at(2 * wait)
    await rotate()
    const third = currentSet()
    expect(third.previous).toEqual(publicHalf(second.current))
    expect(publishedKids()).toEqual([third.current.kid, third.next.kid, second.current.kid])
    expect(await storedPrivateKeys()).toEqual(privateKeysOf(third))
  })

  it('drops the private key of a previous key that a set written before kept, at its next rotation', async () => {
    await rotate()
    now = at(MIN_PUBLICATION_MS)
    await rotate()
    const { current, next } = currentSet()
    const retired = generateSigningKey(START)
    // A set as this service wrote it before: `previous` with its private key.
    values.set(SIGNING, JSON.stringify({ current, next, previous: retired }))
    expect(currentSet().previous).toEqual(publicHalf(retired))

    now = at(2 * MIN_PUBLICATION_MS)
    await rotate()
    expect(await storedPrivateKeys()).toEqual(privateKeysOf(currentSet()))
    expect(await storedPrivateKeys()).not.toContain(retired.privateKey)
  })

  it('fails testSecret on a pending set that keeps the private key of its previous key', async () => {
    await rotate()
    now = at(MIN_PUBLICATION_MS)
    const token = randomUUID()
    fake.startRotation(SIGNING, token)
    const { current, next } = currentSet()
    const kept = { current: next, next: newSigningKeySet(now).next, previous: current }
    await client.send(
      new PutSecretValueCommand({
        SecretId: SIGNING,
        ClientRequestToken: token,
        SecretString: JSON.stringify(kept),
        VersionStages: ['AWSPENDING'],
      }),
    )
    await expect(step('testSecret', token)).rejects.toThrow(
      'the pending key set keeps a private key besides those of current and next',
    )
  })

  it('takes the labels off when finishSecret is asked again after failing once AWSCURRENT had moved', async () => {
    await rotate()
    now = at(MIN_PUBLICATION_MS)
    const token = randomUUID()
    fake.startRotation(SIGNING, token)
    for (const name of ['createSecret', 'setSecret', 'testSecret']) await step(name, token)
    // The first call of finishSecret, and then the function failed: AWSPREVIOUS and AWSPENDING are still on.
    const current = Object.keys(fake.stages(SIGNING)).find((id) =>
      fake.stages(SIGNING)[id]?.includes('AWSCURRENT'),
    )
    await client.send(
      new UpdateSecretVersionStageCommand({
        SecretId: SIGNING,
        VersionStage: 'AWSCURRENT',
        MoveToVersionId: token,
        RemoveFromVersionId: current,
      }),
    )
    expect(Object.values(fake.stages(SIGNING)).flat().sort()).toEqual([
      'AWSCURRENT',
      'AWSPENDING',
      'AWSPREVIOUS',
    ])

    expect(await step('finishSecret', token)).toEqual({ step: 'finishSecret', outcome: 'already done' })
    expect(fake.stages(SIGNING)).toEqual({ [token]: ['AWSCURRENT'] })
    expect(await storedPrivateKeys()).toEqual(privateKeysOf(currentSet()))
  })
})

describe('rotateSigningKeys', () => {
  const waits = (ttlSeconds: number) => ({
    publicationMs: MIN_PUBLICATION_MS,
    retiredTokensMs: retiredKeyTokensLiveMs(ttlSeconds),
  })

  it('waits, besides the caches, for the last tokens of the key it withdraws to expire', () => {
    const made = new Date('2026-01-01T00:00:00Z')
    const set = { ...newSigningKeySet(made), previous: generateSigningKey(made) }
    const threeHours = new Date(made.getTime() + 3 * 3600 * 1000)
    // Three hours: past the caches' two hours and more, so a 15-minute token lifetime allows it ...
    const rotated = rotateSigningKeys(set, threeHours, waits(900))
    expect(rotated.previous?.kid).toBe(set.current.kid)
    // ... and the key that stops signing keeps its public half only: it will never sign again.
    expect(rotated.previous).toEqual({
      kid: set.current.kid,
      publicJwk: set.current.publicJwk,
      createdAt: set.current.createdAt,
    })
    expect(JSON.stringify(rotated)).not.toContain(JSON.stringify(set.current.privateKey))
    // ... but not a 24-hour lifetime: tokens the withdrawn key signed could still be valid.
    expect(() => rotateSigningKeys(set, threeHours, waits(86_400))).toThrow(
      `tokens signed by the key it retired (${set.previous.kid}) may still be live: rotate after 2026-01-02T00:15:00.000Z`,
    )
    // The first set withdraws nothing: only the caches are waited for, whatever the lifetime.
    expect(rotateSigningKeys({ ...set, previous: null }, threeHours, waits(86_400)).current.kid).toBe(
      set.next.kid,
    )
  })
})

describe('the rotation guard, at each end of ACCESS_TOKEN_TTL_SECONDS', () => {
  const { min, max } = INTEGER_SETTINGS.ACCESS_TOKEN_TTL_SECONDS
  /** The least time between the two rotations below, for each lifetime: 2 h 20 min (the caches), 24 h 15 min. */
  const expected = { [min]: 2 * 3600_000 + 20 * 60_000, [max]: 24 * 3600_000 + 15 * 60_000 }

  for (const ttlSeconds of [min, max]) {
    it(`with ${ttlSeconds} s tokens, withdraws a retired key only once its last token expired, and signs with a key only once every cache has it`, async () => {
      rotation = rotationWithTtl(ttlSeconds)
      await rotate()
      now = new Date(START.getTime() + MIN_PUBLICATION_MS)
      await rotate()
      // B signs from here; warm signers may still sign with A until they read the new set.
      const second = currentSet()
      const retiredAt = now.getTime()
      const retired = second.previous?.kid ?? ''
      const published = publishedKids()

      // What the rotation must wait for, from the world's timings, not the guard's formula:
      // A's last token: signed by a warm signer just before its copy of the keys ran out, alive for a lifetime.
      const lastTokenOfRetiredExpires = retiredAt + KEY_SET_MAX_AGE_MS + ttlSeconds * 1000
      // C, published now: known to API Gateway once the JWKS function's copy, a cache and the gateway's let go.
      const gatewayKnowsNext =
        retiredAt + KEY_SET_MAX_AGE_MS + WELL_KNOWN_MAX_AGE_SECONDS * 1000 + GATEWAY_JWKS_CACHE_MS
      const earliest = retiredAt + (expected[ttlSeconds] ?? Number.NaN)
      expect(earliest).toBeGreaterThanOrEqual(lastTokenOfRetiredExpires + CLOCK_SKEW_MARGIN_MS)
      expect(earliest).toBeGreaterThanOrEqual(gatewayKnowsNext + CLOCK_SKEW_MARGIN_MS)

      // A second before: refused, and nothing changes (A stays published, C does not sign).
      now = new Date(earliest - 1000)
      const early = randomUUID()
      fake.startRotation(SIGNING, early)
      await expect(step('createSecret', early)).rejects.toThrow(EarlyRotationError)
      expect(currentSet()).toEqual(second)
      expect(publishedKids()).toEqual(published)
      expect(publishedKids()).toContain(retired)

      // At the earliest: C signs, A is withdrawn.
      now = new Date(earliest)
      await rotate()
      const third = currentSet()
      expect(third.current.kid).toBe(second.next.kid)
      expect(publishedKids()).not.toContain(retired)
    })
  }
})
