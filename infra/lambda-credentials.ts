import { type FromEnvInit, fromEnv } from '@aws-sdk/credential-provider-env'

/**
 * Stands in for `@aws-sdk/credential-provider-node` in the Lambda bundles (see `infra/bundling.ts`). Lambda hands a
 * function its role's credentials in the environment, so the default chain always stops at its first link there;
 * its other links (SSO, profiles, IMDS, ECS, web identity, with the STS and SSO clients they carry) only cost bytes.
 */
export const defaultProvider = (init?: FromEnvInit) => fromEnv(init)
