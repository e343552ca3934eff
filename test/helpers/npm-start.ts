import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'

export const repositoryRoot = resolve(import.meta.dirname, '../..')

/** What `npm start` runs, read from package.json: spawning it is running `npm start`, without npm in between. */
export const NPM_START_SCRIPT = (
  JSON.parse(readFileSync(resolve(repositoryRoot, 'package.json'), 'utf8')) as { scripts: { start: string } }
).scripts.start

export interface Started {
  child: ChildProcess
  output: () => string
  /** The API's base URL, `http://127.0.0.1:<port>/api/v1`. */
  base: string
}

/**
 * Runs `npm start`'s script as a user would, with its own data folder (LOCAL_DATA_DIR) and port, until it says where
 * it listens. `extraEnv` adds to a minimal environment (PATH and HOME only).
 */
export async function startNpmStart(
  port: number,
  dataDir: string,
  extraEnv: Record<string, string> = {},
): Promise<Started> {
  const [command = '', ...args] = NPM_START_SCRIPT.split(' ')
  const child = spawn(command === 'node' ? process.execPath : command, args, {
    cwd: repositoryRoot,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PORT: String(port),
      LOCAL_DATA_DIR: dataDir,
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout?.on('data', (chunk) => (output += chunk))
  child.stderr?.on('data', (chunk) => (output += chunk))
  try {
    await new Promise<void>((resolveStart, reject) => {
      const timer = setTimeout(() => reject(new Error(`npm start did not come up:\n${output}`)), 90_000)
      const check = () => {
        if (output.includes('Ctrl-C stops')) {
          clearTimeout(timer)
          resolveStart()
        }
      }
      child.stdout?.on('data', check)
      child.on('exit', () => reject(new Error(`npm start exited:\n${output}`)))
    })
  } catch (error) {
    // Not left running: the caller's cleanup stops the PostgreSQL a killed run leaves on its folder.
    if (child.exitCode === null) child.kill('SIGKILL')
    throw error
  }
  return { child, output: () => output, base: `http://127.0.0.1:${port}/api/v1` }
}

/** Ctrl-C, as a user stops it; its exit code. */
export async function stopNpmStart(
  { child }: Started,
  signal: NodeJS.Signals = 'SIGINT',
): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
  const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)))
  child.kill(signal)
  return exited
}
