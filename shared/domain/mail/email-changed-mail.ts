/**
 * The notice to an account's previous address once it has moved to a new one. Plain text; the first line is the
 * subject. Placeholders: {{product}}, {{time}}. Edit the words freely; `mailer.ts` refuses a template that loses one.
 */
export default `Subject: Your {{product}} email address was changed

Hello,

The {{product}} account that used this email address moved to another address at {{time}}. This address no longer
signs in to it, and every other signed-in device was signed out.

If you did not do this, reply to this mail or contact support at once.

{{product}}
`
