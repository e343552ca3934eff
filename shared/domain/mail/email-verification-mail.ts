/**
 * The mail with a code that verifies the account's address. Plain text; the first line is the subject. Placeholders:
 * {{product}}, {{code}}, {{minutes}}. Edit the words freely; `mailer.ts` refuses a template that loses one.
 */
export default `Subject: Your {{product}} verification code: {{code}}

Hello,

Enter this code in {{product}} within {{minutes}} minutes to confirm that this email address is yours:

{{code}}

The code works once. If you did not ask for it, ignore this mail.

{{product}}
`
