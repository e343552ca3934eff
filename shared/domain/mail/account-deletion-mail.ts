/**
 * The mail with an account-deletion link (`POST /auth/account-deletion`). Plain text; the first line is the subject.
 * Placeholders: {{product}}, {{link}}, {{minutes}}. Edit the words freely; `mailer.ts` refuses a template that loses a
 * placeholder it fills.
 */
export default `Subject: Delete your {{product}} account

Hello,

Someone asked to delete the {{product}} account of this email address. To delete it, open this link within
{{minutes}} minutes and confirm:

{{link}}

Deleting is final: your email, username and password are erased and every session is signed out. The link works
once. If you did not ask for it, ignore this mail: nothing changes.

{{product}}
`
