/**
 * The mail with a password-reset link. Plain text; the first line is the subject. Placeholders: {{product}},
 * {{link}}, {{minutes}}. Edit the words freely; `mailer.ts` refuses a template that loses a placeholder it fills.
 */
export default `Subject: Reset your {{product}} password

Hello,

Someone asked to reset the password of the {{product}} account for this email address. To choose a new password,
open this link within {{minutes}} minutes:

{{link}}

The link works once. If you did not ask for it, ignore this mail: your password stays as it is.

{{product}}
`
