import {
  firstSigningKeySetFromEnvironment,
  type RotationEvent,
  rotateSigningKeysFromEnvironment,
} from '#shared/app/signing-key-rotation'

/**
 * Secrets Manager's rotation function for the access tokens' signing keys: one step of a rotation per invocation
 * (every `signingKeyRotationDays`, or on demand; docs/deploying.md). A rotation asked for before the next key has
 * been published long enough fails with the time it may run, and changes nothing. Invoked by the deploy without an
 * event (a Trigger), it makes the first key set, or finds one.
 */
export const handler = async (event?: Partial<RotationEvent> | null) => {
  if (typeof event?.Step !== 'string') return firstSigningKeySetFromEnvironment()
  await rotateSigningKeysFromEnvironment(event as RotationEvent)
}
