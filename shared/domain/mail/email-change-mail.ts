/**
 * The mail with a code that moves an account to this (new) address. Plain text; the first line is the subject.
 * Placeholders: {{product}}, {{code}}, {{minutes}}. Edit the words freely; `mailer.ts` refuses a template that loses one.
 */
export default `Subject: Confirm your new {{product}} email address: {{code}}

Hello,

Someone signed in to a {{product}} account asked to use this email address for it. To confirm, enter this code in
{{product}} within {{minutes}} minutes:

{{code}}

Until the code is entered the account keeps its current address. If you did not ask for this, ignore this mail.

{{product}}
`
