export {
  type AuthClient,
  type AuthClientOptions,
  type AuthEvents,
  createAuthClient,
  type RequestInput,
  type ResponseBody,
  type SignedOutReason,
} from './client.ts'
export { ApiError, type ErrorBody } from './errors.ts'
export type * from './openapi.ts'
export { memoryStorage, type TokenStorage } from './storage.ts'
