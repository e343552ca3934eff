import { createPrivateKey, createSign } from 'node:crypto'
import { inject } from 'vitest'
import { parseSigningKeySet, type SigningKey, type SigningKeySet } from '#shared/domain/signing-keys'

/** The run's key set, as the functions under test read it from `JWT_SIGNING_KEYS`. */
export function testSigningKeys(): SigningKeySet {
  const set = parseSigningKeySet(inject('signingKeys'))
  if (!set) throw new Error('the test run has no signing key set')
  return set
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** A JWT signed RS256 with `key` (by default the set's current one), under exactly the header given. */
export function signRs256(
  payload: Record<string, unknown>,
  header: Record<string, unknown>,
  key: Pick<SigningKey, 'privateKey'> = testSigningKeys().current,
): string {
  const unsigned = `${base64url(header)}.${base64url(payload)}`
  const signature = createSign('RSA-SHA256').update(unsigned).sign(createPrivateKey(key.privateKey))
  return `${unsigned}.${signature.toString('base64url')}`
}
