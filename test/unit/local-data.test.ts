import { type ChildProcess, spawn } from 'node:child_process'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { RUNNING_FILE, resetLocalData } from '#infra/local/local-data'

/** What `npm run reset:local` removes, and what it leaves, on folders laid out as `npm start` leaves them. */
const folders: string[] = []
const children: ChildProcess[] = []
afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL')
  for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true })
})

/** A data folder with `files` (a trailing `/` makes a folder). */
async function folderWith(...files: string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'papa-auth-local-'))
  folders.push(dir)
  for (const file of files) {
    if (file.endsWith('/')) await mkdir(join(dir, file), { recursive: true })
    else {
      await mkdir(join(dir, file, '..'), { recursive: true })
      await writeFile(join(dir, file), 'x')
    }
  }
  return dir
}

const NPM_STARTS_OWN = [
  'admin-password',
  'failed-mail-events.jsonl',
  'mail/3kq9x0ab.eml',
  'mail/3kq9x0ab.meta.json',
  'mail/3kq9x0ab/attachment.txt',
  'pgdata/PG_VERSION',
  'pgdata/base/1/112',
  'postgres-credentials.json',
  'signing-keys.json',
]

describe('resetLocalData', () => {
  it('removes everything npm start keeps, and the folder it leaves empty', async () => {
    const dir = await folderWith(...NPM_STARTS_OWN)
    expect(await resetLocalData(dir)).toEqual({
      outcome: 'reset',
      removed: [
        'admin-password',
        'failed-mail-events.jsonl',
        'mail',
        'pgdata',
        'postgres-credentials.json',
        'signing-keys.json',
      ],
      kept: [],
      folderRemoved: true,
    })
  })

  it('leaves what is not npm start’s: other files, a pgdata that is no cluster, a mail folder with other files', async () => {
    const dir = await folderWith(
      'notes.txt',
      'pgdata/my-own-file',
      'mail/letter.txt',
      'mail/3kq9x0ab.eml',
      'admin-password',
    )
    expect(await resetLocalData(dir)).toEqual({
      outcome: 'reset',
      removed: ['admin-password'],
      kept: ['mail', 'notes.txt', 'pgdata'],
      folderRemoved: false,
    })
    expect((await readdir(join(dir, 'mail'))).sort()).toEqual(['3kq9x0ab.eml', 'letter.txt'])
  })

  it('does nothing to a folder that is not there', async () => {
    const dir = join(await folderWith(), 'never-made')
    expect(await resetLocalData(dir)).toEqual({
      outcome: 'reset',
      removed: [],
      kept: [],
      folderRemoved: false,
    })
  })

  it('refuses while the npm start its file names runs, and says how to stop it', async () => {
    // A process whose command line names start.ts, as npm start's does.
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'infra/local/start.ts'])
    children.push(child)
    await new Promise((done) => child.once('spawn', done))
    const dir = await folderWith(...NPM_STARTS_OWN)
    const where = { pid: child.pid, api: 'http://127.0.0.1:3000/api/v1', docs: '', mail: null }
    await writeFile(join(dir, RUNNING_FILE), JSON.stringify(where))

    const refused = await resetLocalData(dir)
    expect(refused).toEqual({ outcome: 'refused', reason: expect.stringContaining(`pid ${child.pid}`) })
    expect(refused.outcome === 'refused' && refused.reason).toContain(`kill -INT ${child.pid}`)
    expect((await readdir(dir)).sort()).toEqual(
      [
        'admin-password',
        'failed-mail-events.jsonl',
        'mail',
        RUNNING_FILE,
        'pgdata',
        'postgres-credentials.json',
        'signing-keys.json',
      ].sort(),
    )
  })

  it('takes a file whose process is gone, or is another program now, for a run that ended', async () => {
    const gone = spawn(process.execPath, ['-e', ''])
    await new Promise((done) => gone.once('exit', done))
    for (const pid of [gone.pid, process.pid]) {
      const dir = await folderWith('admin-password')
      await writeFile(join(dir, RUNNING_FILE), JSON.stringify({ pid, api: '', docs: '', mail: null }))
      expect(await resetLocalData(dir)).toMatchObject({ outcome: 'reset', folderRemoved: true })
    }
  })
})
