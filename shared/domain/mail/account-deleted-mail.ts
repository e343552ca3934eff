/**
 * The notice sent to the address an account had, once it was erased (by its user or by an operator). Plain text; the
 * first line is the subject. Placeholders: {{product}}, {{time}}.
 */
export default `Subject: Your {{product}} account was deleted

Hello,

Your {{product}} account was deleted on {{time}}: its email, username and password are erased, and every session
was signed out. This address can be used to register a new account at any time.

If you did not ask for this, tell us.

{{product}}
`
