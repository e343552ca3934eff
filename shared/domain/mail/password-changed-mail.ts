/**
 * The notice sent after a password was changed or reset. Plain text; the first line is the subject. Placeholders:
 * {{product}}, {{time}}.
 */
export default `Subject: Your {{product}} password was changed

Hello,

The password of your {{product}} account was changed on {{time}}, and every other session was signed out.

If this was you, there is nothing to do. If it was not, reset your password now from the sign-in page, and tell us.

{{product}}
`
