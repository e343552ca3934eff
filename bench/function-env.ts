/** The environment a function gets, without anything the caller's shell may have set for the service. */
export function functionEnv(settings: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (
      /^(DATABASE_|JWT_|ADMIN_|BCRYPT_|ACCESS_TOKEN_|REFRESH_TOKEN_|AWS_|CORS_|PASSWORD_RESET_|MAILER_)/.test(
        name,
      )
    )
      continue
    env[name] = value
  }
  return { ...env, ...settings }
}
