import { type RotationEvent, rotateSigningKeysFromEnvironment } from '#shared/app/signing-key-rotation'

/**
 * Secrets Manager's rotation function for the access tokens' signing keys: one step of a rotation per invocation
 * (every `signingKeyRotationDays`, or on demand; docs/deploying.md). A rotation asked for before the next key has
 * been published long enough fails with the time it may run, and changes nothing.
 */
export const handler = async (event: RotationEvent) => {
  await rotateSigningKeysFromEnvironment(event)
}
