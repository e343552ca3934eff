/**
 * Secrets Manager's rotation protocol for the signing key set (AWS's rotation function template, step for step):
 * Secrets Manager starts a rotation by attaching AWSPENDING to a new, empty version named by the request token, then
 * invokes the function once per step. Every step may be invoked again (Secrets Manager retries a failed rotation), so
 * each one checks what is already done before doing it.
 *
 * - createSecret: AWSPENDING = the AWSCURRENT set rotated one place (a placeholder, as at deploy: a new set); the
 *   key that stops signing keeps its public half only, as `previous`.
 * - setSecret: publishes the pending set's public keys in the published-keys secret, before AWSCURRENT moves: the new
 *   `next` is published now and can sign only after the next rotation, which `rotateSigningKeys` refuses until it has
 *   been published for `MIN_PUBLICATION_MS` and the tokens of the key this one retires have expired
 *   (`shared/platform/key-rotation-timing.ts`); the key that signs until this rotation ends stays published
 *   (`previous`).
 * - testSecret: every key of the pending set signs and verifies (node:crypto), and keeps the signing key published;
 *   the set holds the private keys of `current` and `next` and no other. Invoked alone, on a version holding no new
 *   set, it is Secrets Manager's test of the configuration (a schedule changed): answered, changing nothing.
 * - finishSecret: AWSCURRENT moves to the pending version, AWSPENDING comes off it, and so does AWSPREVIOUS off the
 *   version that was current: its set holds the private key of the key that has just stopped signing, which will
 *   never sign again. A version without a label is deprecated, and Secrets Manager deletes it in time (no call
 *   deletes one); no labelled version holds that private key from then on.
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto'
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager'
import {
  EarlyRotationError,
  newSigningKeySet,
  parseSigningKeySet,
  publishedKeys,
  type RetiredKey,
  rotateSigningKeys,
  type SigningKey,
  type SigningKeySet,
} from '#shared/domain/signing-keys'
import { SECRETS_CONNECT_TIMEOUT_MS, SECRETS_REQUEST_TIMEOUT_MS } from '#shared/platform/budget'
import { ConfigError, loadConfig } from '#shared/platform/config'
import { MIN_PUBLICATION_MS, retiredKeyTokensLiveMs } from '#shared/platform/key-rotation-timing'
import { logger } from '#shared/platform/logger'

const CURRENT = 'AWSCURRENT'
const PENDING = 'AWSPENDING'
const PREVIOUS = 'AWSPREVIOUS'

export const ROTATION_STEPS = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const
export type RotationStep = (typeof ROTATION_STEPS)[number]

/** What Secrets Manager invokes the rotation function with. */
export interface RotationEvent {
  Step: string
  SecretId: string
  /** The id of the version being made, the one AWSPENDING is on. */
  ClientRequestToken: string
  RotationToken?: string
}

/** What a step did, for the log: nothing secret, only the keys' ids. */
export interface StepOutcome {
  step: RotationStep
  /** `configuration test`: Secrets Manager's own test of the rotation's configuration (not a rotation). */
  outcome: 'done' | 'already done' | 'configuration test'
  /** The pending set's key ids, once there is one. */
  kids?: { current: string; next: string; previous: string | null }
}

/** What the deploy's run of the function did: the first key set made, or one found there already. */
export interface FirstKeySetOutcome {
  outcome: 'done' | 'already done'
  kids: { current: string; next: string; previous: string | null }
}

export interface SigningKeyRotationDeps {
  client: SecretsManagerClient
  /** The secret the published keys are written to (`{"keys": [...]}`), read by every verifier and the JWKS. */
  publicKeysSecretId: string
  /**
   * The access tokens' lifetime (ACCESS_TOKEN_TTL_SECONDS, the API functions' own): a key a rotation withdraws must
   * have stopped signing longer ago than its last token lives.
   */
  accessTokenTtlSeconds: number
  now?: () => Date
}

/** The rotation function's work, on any Secrets Manager client (the deployed one, or a local stand-in in tests). */
export function createSigningKeyRotation({
  client,
  publicKeysSecretId,
  accessTokenTtlSeconds,
  now = () => new Date(),
}: SigningKeyRotationDeps) {
  const waits = {
    publicationMs: MIN_PUBLICATION_MS,
    retiredTokensMs: retiredKeyTokensLiveMs(accessTokenTtlSeconds),
  }
  const describe = (secretId: string) => client.send(new DescribeSecretCommand({ SecretId: secretId }))

  const getValue = async (secretId: string, stage: string, versionId?: string) => {
    const result = await client.send(
      new GetSecretValueCommand({
        SecretId: secretId,
        VersionStage: stage,
        ...(versionId ? { VersionId: versionId } : {}),
      }),
    )
    if (typeof result.SecretString !== 'string')
      throw new Error(`the ${stage} version of the key set has no string value`)
    return result.SecretString
  }

  /** The pending set and its text; refuses anything that is not a key set (never its text: it holds private keys). */
  const pendingValue = async (secretId: string, token: string) => {
    const text = await getValue(secretId, PENDING, token)
    const set = parseSigningKeySet(text)
    if (!set) throw new Error(`the AWSPENDING version ${token} is not a signing key set`)
    return { set, text }
  }
  const pendingSet = async (secretId: string, token: string): Promise<SigningKeySet> =>
    (await pendingValue(secretId, token)).set

  const kidsOf = (set: SigningKeySet) => ({
    current: set.current.kid,
    next: set.next.kid,
    previous: set.previous?.kid ?? null,
  })

  async function createSecret(secretId: string, token: string): Promise<StepOutcome> {
    const currentText = await getValue(secretId, CURRENT)
    try {
      const existing = await pendingSet(secretId, token)
      return { step: 'createSecret', outcome: 'already done', kids: kidsOf(existing) }
    } catch (error) {
      if (!(error instanceof ResourceNotFoundException)) throw error
    }
    const current = parseSigningKeySet(currentText)
    let pending: SigningKeySet
    try {
      // A placeholder (the secret as deployed) becomes the first set: a key that signs and the next, published.
      pending = current ? rotateSigningKeys(current, now(), waits) : newSigningKeySet(now())
    } catch (error) {
      if (!(error instanceof EarlyRotationError)) throw error
      // Refused: the set stays as it is, and AWSPENDING comes off the empty version Secrets Manager made, so no
      // rotation is left in progress and a later one may start.
      await client.send(
        new UpdateSecretVersionStageCommand({
          SecretId: secretId,
          VersionStage: PENDING,
          RemoveFromVersionId: token,
        }),
      )
      throw error
    }
    await client.send(
      new PutSecretValueCommand({
        SecretId: secretId,
        ClientRequestToken: token,
        SecretString: JSON.stringify(pending),
        VersionStages: [PENDING],
      }),
    )
    return { step: 'createSecret', outcome: 'done', kids: kidsOf(pending) }
  }

  async function setSecret(secretId: string, token: string): Promise<StepOutcome> {
    const pending = await pendingSet(secretId, token)
    // The token makes a repeated write a no-op (same token, same text); a version of its own in this other secret.
    await client.send(
      new PutSecretValueCommand({
        SecretId: publicKeysSecretId,
        ClientRequestToken: token,
        SecretString: JSON.stringify({ keys: publishedKeys(pending) }),
      }),
    )
    return { step: 'setSecret', outcome: 'done', kids: kidsOf(pending) }
  }

  async function testSecret(secretId: string, token: string): Promise<StepOutcome> {
    if (await isConfigurationTest(secretId, token))
      return { step: 'testSecret', outcome: 'configuration test' }
    const { set: pending, text } = await pendingValue(secretId, token)
    assertKeyWorks(pending.current)
    assertKeyWorks(pending.next)
    if (pending.previous) assertKeyId(pending.previous)
    // What is stored, not what is read (the reader drops a retired key's private key): the two that may sign.
    if (text.split('-----BEGIN PRIVATE KEY-----').length - 1 !== 2)
      throw new Error('the pending key set keeps a private key besides those of current and next')
    const kids = new Set(publishedKeys(pending).map((jwk) => jwk.kid))
    if (kids.size !== publishedKeys(pending).length) throw new Error('the pending key set repeats a key id')
    // Until finishSecret, the AWSCURRENT set's `current` signs: it must stay published once this set is.
    const signingNow = parseSigningKeySet(await getValue(secretId, CURRENT))?.current.kid
    if (signingNow && !kids.has(signingNow))
      throw new Error(`the pending key set does not publish the key that signs now (${signingNow})`)
    return { step: 'testSecret', outcome: 'done', kids: kidsOf(pending) }
  }

  /**
   * Whether this testSecret is Secrets Manager's test of the rotation's configuration, not a step of a rotation: a
   * change of the rotation schedule (a deploy that changes signingKeyRotationDays, and its rollback) starts no
   * rotation (RotateImmediatelyOnUpdate false) but invokes testSecret alone, on an AWSPENDING version it "creates and
   * then removes". The documentation does not say what that version holds: a copy of AWSCURRENT, or nothing (on
   * AWSCURRENT's own version `rotate` answers already). A rotation's own testSecret always finds the set its
   * createSecret wrote, which differs from AWSCURRENT's. The test changes nothing and is answered so whatever the key
   * set is (the placeholder, or a next key too recent to rotate to): it fails neither the deploy nor its rollback.
   */
  async function isConfigurationTest(secretId: string, token: string): Promise<boolean> {
    let pending: string | undefined
    try {
      pending = await getValue(secretId, PENDING, token)
    } catch (error) {
      if (!(error instanceof ResourceNotFoundException)) throw error
    }
    return pending === undefined || pending === (await getValue(secretId, CURRENT))
  }

  /** The id of the version a stage is on, if any. */
  const holderOf = (versions: Record<string, string[]>, stage: string) =>
    Object.keys(versions).find((id) => versions[id]?.includes(stage))

  const takeOff = (secretId: string, stage: string, versionId: string) =>
    client.send(
      new UpdateSecretVersionStageCommand({
        SecretId: secretId,
        VersionStage: stage,
        RemoveFromVersionId: versionId,
      }),
    )

  /**
   * Also asked again once AWSCURRENT is on the version (by a retry after a failure between its calls): then it takes
   * off whatever label is still to come off, and answers `already done`.
   */
  async function finishSecret(secretId: string, token: string): Promise<StepOutcome> {
    const versions = (await describe(secretId)).VersionIdsToStages ?? {}
    const current = holderOf(versions, CURRENT)
    if (current !== token) {
      await client.send(
        new UpdateSecretVersionStageCommand({
          SecretId: secretId,
          VersionStage: CURRENT,
          MoveToVersionId: token,
          ...(current ? { RemoveFromVersionId: current } : {}),
        }),
      )
    }
    // Secrets Manager has put AWSPREVIOUS on the version AWSCURRENT left, whose set holds the private key of the key
    // that has just stopped signing and will never sign again: the label comes off, so no labelled version holds it.
    const previous = current !== token ? current : holderOf(versions, PREVIOUS)
    if (previous && previous !== token) await takeOff(secretId, PREVIOUS, previous)
    if (versions[token]?.includes(PENDING)) await takeOff(secretId, PENDING, token)
    return { step: 'finishSecret', outcome: current === token ? 'already done' : 'done' }
  }

  /**
   * The first key set, when the key set is still the placeholder the stack created: published first, then stored as
   * AWSCURRENT, so no function signs with a key not yet published. A key set already there is left as it is.
   */
  async function firstKeySet(secretId: string): Promise<FirstKeySetOutcome> {
    const current = parseSigningKeySet(await getValue(secretId, CURRENT))
    if (current) return { outcome: 'already done', kids: kidsOf(current) }
    const set = newSigningKeySet(now())
    await client.send(
      new PutSecretValueCommand({
        SecretId: publicKeysSecretId,
        SecretString: JSON.stringify({ keys: publishedKeys(set) }),
      }),
    )
    await client.send(new PutSecretValueCommand({ SecretId: secretId, SecretString: JSON.stringify(set) }))
    return { outcome: 'done', kids: kidsOf(set) }
  }

  const steps: Record<RotationStep, (secretId: string, token: string) => Promise<StepOutcome>> = {
    createSecret,
    setSecret,
    testSecret,
    finishSecret,
  }

  return {
    /** Runs one step of a rotation; throws, failing the rotation, on anything but success. */
    async rotate(event: RotationEvent): Promise<StepOutcome> {
      const { SecretId: secretId, ClientRequestToken: token, Step: step } = event
      if (!isStep(step)) throw new Error(`unknown rotation step ${step}`)
      const metadata = await describe(secretId)
      if (!metadata.RotationEnabled) throw new Error(`secret ${secretId} is not enabled for rotation`)
      const stages = metadata.VersionIdsToStages?.[token]
      if (!stages) throw new Error(`version ${token} has no stage for rotation of ${secretId}`)
      // The rotation already ended with this version current: nothing left to do, whichever step is asked again,
      // but the labels finishSecret takes off after moving AWSCURRENT.
      if (stages.includes(CURRENT))
        return step === 'finishSecret' ? finishSecret(secretId, token) : { step, outcome: 'already done' }
      if (!stages.includes(PENDING))
        throw new Error(`version ${token} is not AWSPENDING for rotation of ${secretId}`)
      return steps[step](secretId, token)
    },
    /**
     * Makes the first key set of a stack being created (the deploy runs the function with no event, before the
     * rotation schedule exists): nothing when a key set is there, so every later run changes nothing.
     */
    firstKeySet,
  }
}

const isStep = (step: string): step is RotationStep => (ROTATION_STEPS as readonly string[]).includes(step)

/** A key's id is its public key's thumbprint. */
function assertKeyId(key: RetiredKey): void {
  const { kty, n, e, kid } = key.publicJwk
  const thumbprint = createHash('sha256').update(JSON.stringify({ e, kty, n })).digest('base64url')
  if (kid !== key.kid || kid !== thumbprint) throw new Error(`key ${key.kid}: its id is not its thumbprint`)
}

/** A key of the set signs RS256 and its published key verifies it; its id is its public key's thumbprint. */
function assertKeyWorks(key: SigningKey): void {
  assertKeyId(key)
  const { kty, n, e, kid } = key.publicJwk
  const privateKey = createPrivateKey(key.privateKey)
  if ((privateKey.asymmetricKeyDetails?.modulusLength ?? 0) < 2048)
    throw new Error(`key ${kid}: an RSA key of at least 2048 bits is required`)
  const probe = Buffer.from(`signing-key-rotation test ${kid}`)
  const signature = sign('sha256', probe, privateKey)
  if (!verify('sha256', probe, createPublicKey({ key: { kty, n, e }, format: 'jwk' }), signature))
    throw new Error(`key ${kid}: its published key does not verify what it signs`)
}

let rotation: ReturnType<typeof createSigningKeyRotation> | undefined

/** The rotation made once per container from the environment, for a rotation step and for the first key set alike. */
function rotationFromEnvironment(): ReturnType<typeof createSigningKeyRotation> {
  if (rotation) return rotation
  const config = loadConfig(process.env, [])
  if (!config.JWT_PUBLIC_KEYS_SECRET_ARN) throw new ConfigError(['JWT_PUBLIC_KEYS_SECRET_ARN is required'])
  rotation = createSigningKeyRotation({
    client: new SecretsManagerClient({
      requestHandler: {
        connectionTimeout: SECRETS_CONNECT_TIMEOUT_MS,
        requestTimeout: SECRETS_REQUEST_TIMEOUT_MS,
      },
    }),
    publicKeysSecretId: config.JWT_PUBLIC_KEYS_SECRET_ARN,
    accessTokenTtlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
  })
  return rotation
}

/**
 * The rotation function's work: one step, on the secret the event names, publishing into
 * JWT_PUBLIC_KEYS_SECRET_ARN. The client is made once per container. A refused or failed step throws a message that
 * names the cause and never a key.
 */
export async function rotateSigningKeysFromEnvironment(event: RotationEvent): Promise<StepOutcome> {
  const rotation = rotationFromEnvironment()
  try {
    const outcome = await rotation.rotate(event)
    logger.info('signing keys rotation step', { ...flatten(outcome), token: event.ClientRequestToken })
    return outcome
  } catch (error) {
    const name = error instanceof Error ? error.name : typeof error
    logger.error('signing keys rotation step failed', {
      step: event.Step,
      token: event.ClientRequestToken,
      error: name,
    })
    throw error
  }
}

/**
 * The deploy's run of the rotation function (a Trigger, which sends no event): the first key set, on
 * JWT_SIGNING_KEYS_SECRET_ARN, published into JWT_PUBLIC_KEYS_SECRET_ARN, when the key set is still the placeholder.
 */
export async function firstSigningKeySetFromEnvironment(): Promise<FirstKeySetOutcome> {
  const signingKeys = loadConfig(process.env, []).JWT_SIGNING_KEYS_SECRET_ARN
  if (!signingKeys) throw new ConfigError(['JWT_SIGNING_KEYS_SECRET_ARN is required'])
  const outcome = await rotationFromEnvironment().firstKeySet(signingKeys)
  logger.info('signing keys: first key set', {
    outcome: outcome.outcome,
    currentKid: outcome.kids.current,
    nextKid: outcome.kids.next,
  })
  return outcome
}

const flatten = ({ kids, ...outcome }: StepOutcome) => ({
  ...outcome,
  currentKid: kids?.current,
  nextKid: kids?.next,
  previousKid: kids?.previous,
})
