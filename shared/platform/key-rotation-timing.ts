/**
 * How long the signing keys' rotation must wait, and why: a new key reaches every verifier's copy of the published
 * keys only after each cache on the way has let go of the old copy, and a key that stopped signing has live tokens
 * until the last one a warm signer issued with it expires. The rotation function refuses to rotate before both
 * (`shared/app/signing-key-rotation.ts`), the functions hold their copies no longer than they are allowed to
 * (`shared/app/keys.ts`), and the CDK app refuses a schedule shorter than the wait (`infra/settings.ts`). No
 * dependency, so all three read the same numbers.
 */

const MINUTE_MS = 60 * 1000
const HOUR_MS = 60 * MINUTE_MS

/** API Gateway's JWT authorizer keeps the JWKS it fetched for up to two hours. */
export const GATEWAY_JWKS_CACHE_MS = 2 * HOUR_MS

/**
 * The longest a function uses a key set it read, to sign or to verify: older, it reads the set again before it does
 * (`shared/app/keys.ts`). So a warm signer stops signing with a retired key at most this long after the rotation, and
 * a verifier (the JWKS function among them) knows a new key at most this long after it is published.
 */
export const KEY_SET_MAX_AGE_MS = 10 * MINUTE_MS

/** How long any cache may keep the JWKS and discovery documents (their Cache-Control max-age). */
export const WELL_KNOWN_MAX_AGE_SECONDS = 300

/** Clocks (the rotation function's, a signer's, a verifier's, API Gateway's) may disagree by this much. */
export const CLOCK_SKEW_MARGIN_MS = 5 * MINUTE_MS

/**
 * How long a new key is published before it may sign: the JWKS function's copy of the published keys, then a cache of
 * its answer, then API Gateway's cache, each at its oldest, and the clocks' margin. 2 h 20 min.
 */
export const MIN_PUBLICATION_MS =
  KEY_SET_MAX_AGE_MS + WELL_KNOWN_MAX_AGE_SECONDS * 1000 + GATEWAY_JWKS_CACHE_MS + CLOCK_SKEW_MARGIN_MS

/**
 * How long after a rotation the key it retired may still have live tokens: warm signers sign with it until they read
 * the new set, and the last token one signs lives a token's lifetime; the clocks' margin on top.
 */
export const retiredKeyTokensLiveMs = (accessTokenTtlSeconds: number): number =>
  KEY_SET_MAX_AGE_MS + accessTokenTtlSeconds * 1000 + CLOCK_SKEW_MARGIN_MS

/**
 * The least time between two rotations: the second makes the key the first published sign (so it must have been
 * published `MIN_PUBLICATION_MS`), and withdraws the key the first retired (so its tokens must have expired).
 */
export const rotationIntervalMs = (accessTokenTtlSeconds: number): number =>
  Math.max(MIN_PUBLICATION_MS, retiredKeyTokensLiveMs(accessTokenTtlSeconds))
