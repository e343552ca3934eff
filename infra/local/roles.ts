/**
 * The local cluster's roles, split as the deployed database's are: a superuser for tooling only, the schema's owner
 * (migrate connects as it), the API's role (created by migrate, a member of `papa_auth_app`: rows only, no DDL) and
 * the cleanup's (created by migrate too, a member of `papa_auth_retention`: it reads and deletes what it purges).
 * Their passwords are generated for each cluster and kept beside it, readable by the developer alone.
 */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { connectDirect } from '#db/client'

export const LOCAL_DATABASE = 'papa_auth'
export const OWNER_ROLE = 'papa_auth_owner'
export const API_ROLE = 'papa_auth_api'
export const CLEANUP_ROLE = 'papa_auth_cleanup'
/** What embedded clusters made before passwords were generated used for their superuser. */
const LEGACY_SUPERUSER_PASSWORD = 'postgres'

export interface LocalPasswords {
  superuser: string
  owner: string
  api: string
  cleanup: string
}

export interface LocalDatabaseUrls {
  /** The cluster's superuser, on its `postgres` database: for tooling and tests, never for a function. */
  superuserUrl: string
  /** The schema's owner on `papa_auth`: what migrate connects as. */
  ownerUrl: string
  /** The API's role on `papa_auth`: what the API functions and seed-admin connect as. */
  apiUrl: string
  /** The cleanup's role on `papa_auth`: what the cleanup function connects as. */
  cleanupUrl: string
}

const newPassword = () => randomBytes(24).toString('base64url')
const credentialsFile = (dataDir: string) => join(dirname(dataDir), 'postgres-credentials.json')

/**
 * The cluster's passwords: read from beside `dataDir`, or generated and written there (mode 600). `legacy` says
 * that the cluster exists but predates the file, so its superuser still has the old fixed password.
 */
export async function localPasswords(
  dataDir: string,
): Promise<{ passwords: LocalPasswords; legacy: boolean }> {
  const file = credentialsFile(dataDir)
  if (existsSync(file)) {
    const kept = JSON.parse(await readFile(file, 'utf8')) as Omit<LocalPasswords, 'cleanup'> & {
      cleanup?: string
    }
    if (kept.cleanup) return { passwords: { ...kept, cleanup: kept.cleanup }, legacy: false }
    // A cluster from before the cleanup had a role: its password is added to the kept ones.
    const passwords = { ...kept, cleanup: newPassword() }
    await writeFile(file, `${JSON.stringify(passwords)}\n`, { mode: 0o600 })
    return { passwords, legacy: false }
  }
  const passwords = {
    superuser: newPassword(),
    owner: newPassword(),
    api: newPassword(),
    cleanup: newPassword(),
  }
  await writeFile(file, `${JSON.stringify(passwords)}\n`, { mode: 0o600 })
  return { passwords, legacy: existsSync(join(dataDir, 'PG_VERSION')) }
}

const url = (role: string, password: string, port: number, database: string) =>
  `postgres://${role}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`
const literal = (value: string) => `'${value.replaceAll("'", "''")}'`

/**
 * Creates (or updates) the owner role and the `papa_auth` database, as the superuser; idempotent. The API's role is
 * migrate's to create, from `apiUrl`, as in AWS. On a cluster from before (`legacy`), first replaces the
 * superuser's fixed password with the generated one.
 */
export async function provisionLocalRoles(options: {
  port: number
  wsProxy: string
  passwords: LocalPasswords
  legacy: boolean
}): Promise<LocalDatabaseUrls> {
  const { port, wsProxy, passwords } = options
  const superuserUrl = url('postgres', passwords.superuser, port, 'postgres')
  // On template1, so that the `postgres` database has no session when it is copied (below).
  const client = await connectDirect(
    url('postgres', options.legacy ? LEGACY_SUPERUSER_PASSWORD : passwords.superuser, port, 'template1'),
    wsProxy,
  )
  let carried = false
  try {
    if (options.legacy) await client.query(`alter role postgres password ${literal(passwords.superuser)}`)
    // The owner may create roles, as Neon's owner role may: migrate creates the app role and the API's role.
    const exists = await client.query('select 1 from pg_roles where rolname = $1', [OWNER_ROLE])
    await client.query(
      `${exists.rowCount ? 'alter' : 'create'} role ${OWNER_ROLE} login createrole password ${literal(passwords.owner)}`,
    )
    const database = await client.query('select 1 from pg_database where datname = $1', [LOCAL_DATABASE])
    if (!database.rowCount) {
      // A cluster from before kept the service's tables in `postgres`, as the superuser's: copied over, so the
      // developer's local accounts survive, and handed to the owner, so migrate can go on altering them.
      carried = options.legacy && (await hasServiceTables(superuserUrl, wsProxy))
      await client.query(
        `create database ${LOCAL_DATABASE} owner ${OWNER_ROLE}${carried ? ' template postgres' : ''}`,
      )
    }
  } finally {
    await client.end()
  }
  if (carried) await handToOwner(url('postgres', passwords.superuser, port, LOCAL_DATABASE), wsProxy)
  return {
    superuserUrl,
    ownerUrl: url(OWNER_ROLE, passwords.owner, port, LOCAL_DATABASE),
    apiUrl: url(API_ROLE, passwords.api, port, LOCAL_DATABASE),
    cleanupUrl: url(CLEANUP_ROLE, passwords.cleanup, port, LOCAL_DATABASE),
  }
}

async function hasServiceTables(superuserUrl: string, wsProxy: string): Promise<boolean> {
  const client = await connectDirect(superuserUrl, wsProxy)
  try {
    const found = await client.query("select to_regclass('public.users') is not null as found")
    return (found.rows[0] as { found: boolean } | undefined)?.found === true
  } finally {
    await client.end()
  }
}

/** Makes the owner role own every table (their sequences follow), function and schema the service created. */
async function handToOwner(databaseUrl: string, wsProxy: string): Promise<void> {
  const client = await connectDirect(databaseUrl, wsProxy)
  try {
    await client.query(`do $$
      declare statement text;
      begin
        for statement in
          select format('alter table %I.%I owner to ${OWNER_ROLE}', schemaname, tablename)
          from pg_tables where schemaname in ('public', 'drizzle')
          union all
          select format('alter function %s owner to ${OWNER_ROLE}', p.oid::regprocedure)
          from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'public'
          union all
          select format('alter schema %I owner to ${OWNER_ROLE}', nspname) from pg_namespace where nspname = 'drizzle'
        loop
          execute statement;
        end loop;
      end $$`)
  } finally {
    await client.end()
  }
}
