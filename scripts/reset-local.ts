/**
 * `npm run reset:local`: removes what `npm start` keeps in `.local/` (or LOCAL_DATA_DIR), so that the next `npm start`
 * starts from an empty database; refuses, and says how to stop it, while `npm start` or its PostgreSQL runs. What it
 * removes and why: infra/local/local-data.ts.
 */
import { localDataDir, resetLocalData } from '#infra/local/local-data'

const dir = localDataDir()
const result = await resetLocalData(dir)
if (result.outcome === 'refused') {
  process.stderr.write(`reset:local refused: ${result.reason}\n`)
  process.exit(1)
}
const lines =
  result.removed.length === 0
    ? [`Nothing of npm start's to remove in ${dir}.`]
    : [`Removed from ${dir}: ${result.removed.join(', ')}.`]
if (result.kept.length > 0) lines.push(`Left as they are (not npm start's): ${result.kept.join(', ')}.`)
if (result.folderRemoved) lines.push(`Removed ${dir}, now empty.`)
lines.push('The next npm start is a first start: an empty database, a new admin password, printed once.')
process.stdout.write(`${lines.join('\n')}\n`)
