/**
 * What `npm start` keeps in its data folder (`.local/`, or LOCAL_DATA_DIR), and `npm run reset:local`, which removes
 * it so that the next `npm start` is a first start: an empty database, migrated and seeded, a new admin password and
 * key set, no mail.
 *
 * The reset stops nothing. It refuses while `npm start` runs, or while a PostgreSQL a killed run left behind still runs
 * on the folder (removing a live cluster's files leaves a server writing to deleted files); it says how to stop them.
 * It removes only the entries `npm start` makes, each checked to be what it made, and leaves anything else (and the
 * folder, if anything else is in it): LOCAL_DATA_DIR may name a folder that holds more than `npm start`'s.
 */
import { existsSync } from 'node:fs'
import { lstat, readdir, readFile, rm, rmdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { commandLine, isRunning, runningPostgres } from './local-stack.ts'

const root = resolve(import.meta.dirname, '../..')

/** The folder `npm start` keeps its data in: LOCAL_DATA_DIR, relative to the repository, or `.local`. */
export const localDataDir = (env: NodeJS.ProcessEnv = process.env) =>
  resolve(root, env.LOCAL_DATA_DIR ?? '.local')

/** Where a running `npm start` says it listens (written once it listens, removed when it stops). */
export const RUNNING_FILE = 'npm-start.json'

export interface RunningStart {
  pid: number
  /** The API's base URL, `http://host:port/api/v1`. */
  api: string
  docs: string
  /** MailDev's page; null when SMTP_URL sends the mail elsewhere. */
  mail: string | null
}

/** The entries `npm start` makes in its folder, and how each is told to be its own. */
const ENTRIES: Record<string, (path: string) => Promise<boolean>> = {
  // The embedded cluster: PostgreSQL marks a data folder with PG_VERSION (a folder left empty by a failed init too).
  pgdata: async (path) => existsSync(join(path, 'PG_VERSION')) || (await readdir(path)).length === 0,
  // MailDev's store: each mail's .eml, its .meta.json and a folder of its attachments named by its id.
  mail: async (path) => {
    const names = await readdir(path)
    const ids = new Set(names.filter((name) => name.endsWith('.eml')).map((name) => name.slice(0, -4)))
    return names.every((name) => /\.(eml|meta\.json)$/.test(name) || ids.has(name))
  },
  'postgres-credentials.json': isFile,
  'signing-keys.json': isFile,
  'admin-password': isFile,
  'failed-mail-events.jsonl': isFile,
  [RUNNING_FILE]: isFile,
}

async function isFile(path: string): Promise<boolean> {
  return (await lstat(path)).isFile()
}

/** The `npm start` that runs on `dir`, if one does (its file names a live process running `start.ts`). */
export async function runningStart(dir: string): Promise<RunningStart | undefined> {
  const text = await readFile(join(dir, RUNNING_FILE), 'utf8').catch(() => undefined)
  if (text === undefined) return undefined
  let running: RunningStart
  try {
    running = JSON.parse(text) as RunningStart
  } catch {
    return undefined
  }
  if (!Number.isInteger(running.pid) || running.pid <= 0 || !isRunning(running.pid)) return undefined
  // A PID the system has given to another process since a killed run; unknown (no /proc, no ps): taken as running.
  const command = commandLine(running.pid)
  return command === undefined || command.includes('start.ts') ? running : undefined
}

export type ResetOutcome =
  | { outcome: 'refused'; reason: string }
  | { outcome: 'reset'; removed: string[]; kept: string[]; folderRemoved: boolean }

/** Removes what `npm start` keeps in `dir` (see the module's comment); refuses while it, or its database, runs. */
export async function resetLocalData(dir: string): Promise<ResetOutcome> {
  const running = await runningStart(dir)
  if (running) {
    return {
      outcome: 'refused',
      reason:
        `npm start is running on ${dir} (pid ${running.pid}, API ${running.api}). Stop it with Ctrl-C in its ` +
        `terminal (or kill -INT ${running.pid}), then run npm run reset:local again.`,
    }
  }
  const postgres = await runningPostgres(join(dir, 'pgdata'))
  if (postgres !== undefined) {
    return {
      outcome: 'refused',
      reason:
        `a PostgreSQL still runs on ${join(dir, 'pgdata')} (pid ${postgres}), left by an npm start that was killed. ` +
        `Start npm start once and stop it with Ctrl-C (it stops that server first), or kill -INT ${postgres}; ` +
        'then run npm run reset:local again.',
    }
  }
  if (!existsSync(dir)) return { outcome: 'reset', removed: [], kept: [], folderRemoved: false }

  const removed: string[] = []
  const kept: string[] = []
  for (const name of await readdir(dir)) {
    const path = join(dir, name)
    const isOurs = ENTRIES[name]
    if (isOurs && (await isOurs(path))) {
      await rm(path, { recursive: true, force: true })
      removed.push(name)
    } else {
      kept.push(name)
    }
  }
  const folderRemoved = kept.length === 0 && (await rmdir(dir).then(() => true))
  return { outcome: 'reset', removed: removed.sort(), kept: kept.sort(), folderRemoved }
}
