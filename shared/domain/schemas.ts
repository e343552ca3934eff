import * as v from 'valibot'
import { InvalidCredentialsError, InvalidRequestError, UnsupportedGrantTypeError } from './errors.ts'
import { BLOCKLISTED_PASSWORD_MESSAGE, isBlocklisted } from './password-blocklist/password-blocklist.ts'

/** A UUID in its canonical (lower-case) form, as this service makes session ids. */
export const isUuid = (value: string): boolean =>
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(value)

export const EMAIL_MAX_LENGTH = 254
export const PASSWORD_MIN_BYTES = 8
/** bcrypt reads only the first 72 bytes; a longer password would let any 72-byte prefix of it log in. */
export const PASSWORD_MAX_BYTES = 72

const utf8Bytes = (value: string) => Buffer.byteLength(value, 'utf8')
// biome-ignore lint/suspicious/noControlCharactersInRegex: detecting control characters is the point
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/
/** ASCII local part and domain; deliberately stricter than RFC 5322 (no quoted parts, no comments). */
const ASCII_EMAIL =
  /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/

/** Trimmed and lowercased as a whole: the one canonical form used for uniqueness and every lookup. */
export const EmailSchema = v.pipe(
  v.string('Input should be a valid string'),
  v.check((value) => !CONTROL_CHARACTERS.test(value.trim()), 'value is not a valid email address'),
  // Before lower-casing: some non-ASCII letters lower-case to ASCII (the Kelvin sign U+212A becomes `k`).
  v.check((value) => PRINTABLE_ASCII.test(value.trim()), 'value is not a valid email address'),
  v.trim(),
  v.toLowerCase(),
  v.maxLength(EMAIL_MAX_LENGTH, `value is not a valid email address: at most ${EMAIL_MAX_LENGTH} characters`),
  v.regex(ASCII_EMAIL, 'value is not a valid email address'),
  v.check(
    (value) => !value.includes('..') && !value.startsWith('.') && !value.includes('.@'),
    'value is not a valid email address',
  ),
)

const TOO_SHORT = `String should have at least ${PASSWORD_MIN_BYTES} bytes`
const TOO_LONG = `String should have at most ${PASSWORD_MAX_BYTES} bytes`

/**
 * A new password (register, reset, change, the seeded admin's): 8 to 72 bytes of UTF-8, kept exactly as typed (no
 * trimming, no normalisation), and not on the blocklist of common and breached passwords (compared lower-cased; asked
 * only once the length is right).
 *
 * Only the bundles of the functions that set a password may carry the blocklist (infra/bundling.ts puts its filter
 * beside those whose code reaches it): esbuild does not take valibot's own side-effect-free marks, so this schema and
 * the bodies that hold it are marked pure, call by call, and a bundle that never uses them leaves them, and the
 * blocklist, out (a template literal in an argument would count as a side effect: the messages are constants).
 * test/infra/bundles.test.ts names the bundles that carry it.
 */
export const NewPasswordSchema = /* @__PURE__ */ v.pipe(
  /* @__PURE__ */ v.string('Input should be a valid string'),
  /* @__PURE__ */ v.check((value: string) => utf8Bytes(value) >= PASSWORD_MIN_BYTES, TOO_SHORT),
  /* @__PURE__ */ v.check((value: string) => utf8Bytes(value) <= PASSWORD_MAX_BYTES, TOO_LONG),
  /* @__PURE__ */ v.check((value: string) => !isBlocklisted(value), BLOCKLISTED_PASSWORD_MESSAGE),
)

/** A password being checked: any non-empty string; a wrong one of any length is just a wrong password. */
export const PasswordSchema = v.pipe(v.string('Input should be a valid string'), v.nonEmpty('Field required'))

export const UsernameSchema = v.pipe(
  v.string('Input should be a valid string'),
  v.regex(/^[A-Za-z0-9_.-]{3,50}$/, 'String should be 3 to 50 characters of A-Z a-z 0-9 _ . -'),
)

export const RegisterBodySchema = /* @__PURE__ */ v.object({
  email: EmailSchema,
  password: NewPasswordSchema,
  username: /* @__PURE__ */ v.nullish(UsernameSchema),
})
export type RegisterBody = v.InferOutput<typeof RegisterBodySchema>

export const ChangePasswordBodySchema = /* @__PURE__ */ v.object({
  current_password: PasswordSchema,
  new_password: NewPasswordSchema,
})
export type ChangePasswordBody = v.InferOutput<typeof ChangePasswordBodySchema>

export const LoginBodySchema = v.object({ email: EmailSchema, password: PasswordSchema })
export type LoginBody = v.InferOutput<typeof LoginBodySchema>

const OpaqueTokenSchema = v.pipe(
  v.string('Input should be a valid string'),
  v.nonEmpty('Field required'),
  v.maxLength(4096),
)

export const RefreshBodySchema = v.object({ refresh_token: OpaqueTokenSchema })
export type RefreshBody = v.InferOutput<typeof RefreshBodySchema>

export const LogoutBodySchema = RefreshBodySchema
export type LogoutBody = RefreshBody

/**
 * The OAuth 2.0 token request (RFC 6749 §4.3 and §6), as a form. A repeated parameter arrives as an array and is
 * refused, an empty value counts as missing, and an absent `grant_type` means `password` (as FastAPI's form allows).
 */
const formValue = v.optional(
  v.pipe(
    v.string('must not be repeated'),
    v.transform((value) => (value === '' ? undefined : value)),
  ),
)

export const TokenFormSchema = v.object({
  grant_type: formValue,
  username: formValue,
  password: formValue,
  refresh_token: formValue,
  scope: v.optional(v.unknown()),
  client_id: v.optional(v.unknown()),
  client_secret: v.optional(v.unknown()),
})
export type TokenForm = v.InferOutput<typeof TokenFormSchema>

export type TokenRequest =
  | { grantType: 'password'; email: string; password: string }
  | { grantType: 'refresh_token'; refreshToken: string }

/** The grant a token form asks for: `password` when it names none. */
export const grantTypeOf = (form: TokenForm): string => form.grant_type ?? 'password'

/** The token request a valid form describes; RFC 6749 §5.2 errors for anything else. */
export function toTokenRequest(form: TokenForm): TokenRequest {
  const grantType = grantTypeOf(form)
  if (grantType === 'password') {
    if (form.username === undefined) throw new InvalidRequestError('username is required')
    if (form.password === undefined) throw new InvalidRequestError('password is required')
    // A username that is no valid email cannot name an account: a wrong credential (invalid_grant), refused before
    // anything is looked up or stored.
    const email = v.safeParse(EmailSchema, form.username)
    if (!email.success) throw new InvalidCredentialsError()
    return { grantType, email: email.output, password: form.password }
  }
  if (grantType === 'refresh_token') {
    if (form.refresh_token === undefined) throw new InvalidRequestError('refresh_token is required')
    return { grantType, refreshToken: form.refresh_token }
  }
  throw new UnsupportedGrantTypeError()
}

/** A code as typed: any short text; one that is not the code is answered as a wrong code (400), a try counted. */
const EmailCodeSchema = v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(32))

export const EmailVerificationBodySchema = v.object({ email: EmailSchema })
export type EmailVerificationBody = v.InferOutput<typeof EmailVerificationBodySchema>

export const EmailVerificationConfirmBodySchema = v.object({ email: EmailSchema, code: EmailCodeSchema })
export type EmailVerificationConfirmBody = v.InferOutput<typeof EmailVerificationConfirmBodySchema>

export const EmailChangeBodySchema = /* @__PURE__ */ v.object({
  new_email: EmailSchema,
  current_password: PasswordSchema,
})
export type EmailChangeBody = v.InferOutput<typeof EmailChangeBodySchema>

export const EmailChangeConfirmBodySchema = v.object({ code: EmailCodeSchema })
export type EmailChangeConfirmBody = v.InferOutput<typeof EmailChangeConfirmBodySchema>

export const PasswordResetBodySchema = v.object({ email: EmailSchema })
export type PasswordResetBody = v.InferOutput<typeof PasswordResetBodySchema>

export const PasswordResetConfirmBodySchema = /* @__PURE__ */ v.object({
  token: OpaqueTokenSchema,
  new_password: NewPasswordSchema,
})
export type PasswordResetConfirmBody = v.InferOutput<typeof PasswordResetConfirmBodySchema>

/** `DELETE /users/me`: the account's current password, checked as a login checks it. */
export const DeleteAccountBodySchema = /* @__PURE__ */ v.object({ current_password: PasswordSchema })
export type DeleteAccountBody = v.InferOutput<typeof DeleteAccountBodySchema>

export const AccountDeletionBodySchema = v.object({ email: EmailSchema })
export type AccountDeletionBody = v.InferOutput<typeof AccountDeletionBodySchema>

export const AccountDeletionConfirmBodySchema = v.object({ token: OpaqueTokenSchema })
export type AccountDeletionConfirmBody = v.InferOutput<typeof AccountDeletionConfirmBodySchema>
