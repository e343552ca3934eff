/** The parts of docs/performance.md that a tool writes: each between two HTML comments that name it. */
import { readFile, writeFile } from 'node:fs/promises'

const markers = (name: string) => [`<!-- ${name}:start -->`, `<!-- ${name}:end -->`] as const

/** `document` with what lies between `name`'s markers replaced by `content`; throws when the markers are missing. */
export function replaceSection(document: string, name: string, content: string): string {
  const [start, end] = markers(name)
  const from = document.indexOf(start)
  const to = document.indexOf(end)
  if (from < 0 || to < from) throw new Error(`no section ${start} … ${end} in the document`)
  return `${document.slice(0, from + start.length)}\n${content.trim()}\n${document.slice(to)}`
}

/** Rewrites `name`'s section of the Markdown file at `path`. */
export async function writeSection(path: string, name: string, content: string): Promise<void> {
  await writeFile(path, replaceSection(await readFile(path, 'utf8'), name, content))
}
