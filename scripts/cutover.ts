/**
 * `npm run cutover -- [--apply] [--email-collisions=merge|deactivate] [--username-collisions=rename|clear]
 * [--invalid-emails=deactivate] [--inbound=refuse|repoint] [--json]`: the cutover function's work from a machine, against the database that
 * DATABASE_MIGRATION_URL (else DATABASE_URL) names, as `migrate` connects; DATABASE_URL is the API's role, which the
 * migrate run after an apply creates or aligns. A plain PostgreSQL is reached through a local WebSocket proxy, as the
 * local stack reaches its own; Neon directly. Without --apply it reports and changes nothing. Prints the report as
 * text (--json: as the function answers it); exits 1 on a refusal or a failure, 2 on a wrong command line.
 */
import { startWsProxy, type WsProxy } from '#infra/local/ws-proxy'
import { CUTOVER_DECISIONS, type CutoverReport, cutoverFromEnvironment } from '#shared/app/operations'

type Decision = keyof typeof CUTOVER_DECISIONS

const USAGE = `usage: npm run cutover -- [--apply] ${Object.values(CUTOVER_DECISIONS)
  .map(({ flag, choices }) => `[${flag}=${Object.keys(choices).join('|')}]`)
  .join(' ')} [--json]
  Connects as DATABASE_MIGRATION_URL (else DATABASE_URL); DATABASE_URL is the API's role.
  Without --apply: a dry run that reports every row that cannot be carried as it is, and changes nothing.
`

export interface CutoverCommand {
  request: { apply: boolean } & Partial<Record<Decision, string>>
  json: boolean
}

/** The command line as the function's event, or the reason it is wrong. */
export function parseCutoverArguments(args: readonly string[]): CutoverCommand | { error: string } {
  const request: CutoverCommand['request'] = { apply: false }
  let json = false
  for (let index = 0; index < args.length; index++) {
    const arg = args[index] ?? ''
    if (arg === '--apply') request.apply = true
    else if (arg === '--json') json = true
    else {
      const [flag = '', inline] = arg.split(/=(.*)/s)
      const decision = (Object.keys(CUTOVER_DECISIONS) as Decision[]).find(
        (key) => CUTOVER_DECISIONS[key].flag === flag,
      )
      if (!decision) return { error: `unknown argument ${arg}` }
      const value = inline ?? args[++index]
      const choices = Object.keys(CUTOVER_DECISIONS[decision].choices)
      if (value === undefined || !choices.includes(value))
        return { error: `${flag} must be ${choices.join(' or ')}` }
      request[decision] = value
    }
  }
  return { request, json }
}

const row = (entry: {
  id: number
  email: string
  username: string | null
  active: boolean
  updatedAt: string
}) =>
  `#${entry.id} ${JSON.stringify(entry.email)}, username ${entry.username === null ? 'none' : JSON.stringify(entry.username)}, ${entry.active ? 'active' : 'inactive'}, updated ${entry.updatedAt || 'never'}`

/** A bounded list beside its whole count. */
const ids = (list: number[], count: number) =>
  list.length
    ? `${count}: ${list.map((id) => `#${id}`).join(', ')}${count > list.length ? `, … (the first ${list.length} shown)` : ''}`
    : 'none'
const more = (shown: number, count: number, what: string) =>
  count > shown ? [`  … and ${count - shown} more ${what} (the first ${shown} shown)`] : []

/** The report for a person: each conflict, the row kept, what becomes of the others and the flag that decides. */
export function formatCutoverReport(report: CutoverReport): string {
  const lines: string[] = []
  const flagOf = (key: Decision) => CUTOVER_DECISIONS[key].flag
  lines.push(
    report.outcome === 'applied'
      ? `Cutover applied: ${report.legacyRows} row(s) in the old users table.`
      : `Cutover dry run: ${report.legacyRows} row(s) in the old users table. Nothing was changed.`,
    `Keeper rule: ${report.keeperRule}.`,
    `Lists: ${report.lists}.`,
  )
  const decision = (
    title: string,
    key: Decision,
    section: { chosen: string | null; choices: Record<string, string> },
    count: number,
  ) => {
    lines.push(
      '',
      `${title}: ${count}. Decided by ${flagOf(key)} (${section.chosen ? `chosen: ${section.chosen}` : 'not chosen'})`,
    )
    if (count > 0)
      for (const [value, meaning] of Object.entries(section.choices)) lines.push(`    ${value}: ${meaning}`)
  }
  const outcome = (value: string | null, key: Decision) => value ?? `choose ${flagOf(key)}`
  const groups = (list: CutoverReport['emailCollisions']['groups'], key: Decision) => {
    for (const group of list) {
      lines.push(`  ${JSON.stringify(group.value)}`, `    keep  ${row(group.keep)}`)
      for (const other of group.others)
        lines.push(`    other ${row(other)} -> ${outcome(other.outcome, key)}`)
      if (group.otherCount > group.others.length)
        lines.push(`    … and ${group.otherCount - group.others.length} more other row(s)`)
    }
  }

  const emails = report.emailCollisions
  decision('Email collision groups', 'emailCollisions', emails, emails.groupCount)
  groups(emails.groups, 'emailCollisions')
  lines.push(...more(emails.groups.length, emails.groupCount, 'group(s)'))
  const usernames = report.usernameCollisions
  decision(
    'Username collision groups (equal but for case), and usernames over 50 characters',
    'usernameCollisions',
    usernames,
    usernames.groupCount + usernames.tooLongCount,
  )
  groups(usernames.groups, 'usernameCollisions')
  lines.push(...more(usernames.groups.length, usernames.groupCount, 'group(s)'))
  for (const entry of usernames.tooLong)
    lines.push(`  too long: ${row(entry)} -> ${outcome(entry.outcome, 'usernameCollisions')}`)
  lines.push(...more(usernames.tooLong.length, usernames.tooLongCount, 'username(s) too long'))
  const invalid = report.invalidEmails
  decision('Invalid emails', 'invalidEmails', invalid, invalid.rowCount)
  for (const entry of invalid.rows)
    lines.push(`  ${row(entry)} -> ${outcome(entry.outcome, 'invalidEmails')}`)
  lines.push(...more(invalid.rows.length, invalid.rowCount, 'invalid email(s)'))
  const { inbound } = report
  decision(
    'Foreign keys and views of other tables that reference users',
    'inbound',
    { ...inbound, chosen: inbound.chosen ?? 'refuse, the default' },
    inbound.foreignKeys.length + inbound.views.length,
  )
  for (const key of inbound.foreignKeys) {
    const stranded =
      key.rowsWithoutCarriedUser === null
        ? ''
        : `, ${key.rowsWithoutCarriedUser} row(s) without a carried user`
    lines.push(
      `  foreign key ${key.name} of ${key.table} (${key.columns.join(', ')}) -> ${key.references}${stranded}: ${key.outcome}`,
    )
  }
  for (const view of inbound.views) lines.push(`  ${view.kind} ${view.name}: ${view.outcome}`)

  const { conversion } = report
  lines.push(
    '',
    'Conversion:',
    `  carried: ${conversion.carried}; not carried (left in legacy_users): ${ids(conversion.notCarried, conversion.notCarriedCount)}`,
    `  deactivated by this cutover: ${ids(conversion.deactivated, conversion.deactivatedCount)}`,
    `  emails trimmed and lower-cased: ${conversion.emailsCanonicalized}`,
    `  is_active or is_superuser NULL, carried as false: ${ids(conversion.nullFlagsCarriedAsFalse, conversion.nullFlagsCarriedAsFalseCount)}`,
    `  no bcrypt hash (cannot log in until the password is reset): ${ids(conversion.hashesNotBcrypt, conversion.hashesNotBcryptCount)}`,
    `  timestamps: ${conversion.timestamps}`,
    `  passwords: ${conversion.passwords}`,
  )
  if (report.undecided.length > 0) {
    lines.push('', 'Before --apply, choose:')
    for (const entry of report.undecided) lines.push(`  - ${entry}`)
  }
  if (report.applied) {
    const { applied } = report
    lines.push(
      '',
      `Migrations applied in the cutover: ${applied.migrationsInCutover}; by the migrate run after it: ${applied.migrationsAfterCommit ?? 'not run'}.`,
      `New accounts get ids above ${applied.idsContinueAfter}.`,
      `Repointed to the new users table: ${applied.repointed.length ? applied.repointed.join(', ') : 'nothing'}.`,
      `The old table is kept as ${applied.legacyTable}; ${applied.dropLater}.`,
    )
  }
  return `${lines.join('\n')}\n`
}

/** A plain PostgreSQL's URL needs the WebSocket proxy; Neon's endpoints speak WebSocket themselves. */
const isNeonHost = (url: string) => /\.neon\.(tech|build)$/i.test(new URL(url).hostname)

/** Starts a local proxy to the database the environment names, unless it is Neon or a proxy is given. */
async function proxyFor(env: NodeJS.ProcessEnv): Promise<WsProxy | undefined> {
  const urls = [env.DATABASE_MIGRATION_URL, env.DATABASE_URL].filter((url): url is string => !!url)
  if (env.DATABASE_WS_PROXY || urls.length === 0 || urls.every(isNeonHost)) return undefined
  const targets = new Set(
    urls.map((url) => {
      const { hostname, port } = new URL(url)
      return `${hostname}:${port || 5432}`
    }),
  )
  if (targets.size > 1)
    throw new Error('DATABASE_MIGRATION_URL and DATABASE_URL must name the same server (host and port)')
  const [target = ''] = targets
  const separator = target.lastIndexOf(':')
  const proxy = await startWsProxy({
    host: target.slice(0, separator),
    port: Number(target.slice(separator + 1)),
  })
  env.DATABASE_WS_PROXY = proxy.address
  return proxy
}

if (import.meta.main) {
  const parsed = parseCutoverArguments(process.argv.slice(2))
  if ('error' in parsed) {
    process.stderr.write(`${parsed.error}\n${USAGE}`)
    process.exit(2)
  }
  if (!process.env.DATABASE_MIGRATION_URL && !process.env.DATABASE_URL && !process.env.DATABASE_SECRET_ARN) {
    process.stderr.write(
      `set DATABASE_MIGRATION_URL (the schema owner) and DATABASE_URL (the API's role)\n${USAGE}`,
    )
    process.exit(2)
  }
  let proxy: WsProxy | undefined
  let code = 0
  try {
    proxy = await proxyFor(process.env)
    const report = await cutoverFromEnvironment(parsed.request)
    process.stdout.write(parsed.json ? `${JSON.stringify(report, null, 2)}\n` : formatCutoverReport(report))
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
    code = 1
  } finally {
    await proxy?.close()
  }
  process.exit(code)
}
