import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { measureClient } from '#client/scripts/build'
import { fallbackRoute, operatorFunctions, routes } from '#functions/routes'
import { bundleEntry, bundleFunction } from '#infra/bundling'
import { packageSizesFromSourceMap } from './source-map-sizes.ts'
import { median } from './stats.ts'

export interface BundleFigures {
  name: string
  /** Behind API Gateway (the targets apply), or an operator function / baseline. */
  kind: 'api' | 'operator' | 'baseline'
  /** Every JavaScript file the function ships (chunks included, source maps and data files not). */
  rawBytes: number
  gzipBytes: number
  /**
   * The other files it ships beside them, source maps left out: read at run time, not at init (Swagger UI's assets,
   * the migrations, the password blocklist's filter).
   */
  dataBytes: number
  /**
   * Median wall time of a fresh `node` that imports the bundle and exits, configured as deployed (secrets named by
   * ARN): the container build that the import starts loads the SDK before the import is over.
   */
  initMs: number
  /** Median time the import itself took inside that process (load, compile, evaluate). */
  importMs: number
  /** The same with the secrets inline (the local stack), for the functions `inlineFor` names. */
  inline?: { initMs: number; importMs: number }
  /** The largest packages in the bundle, bytes of output each. */
  packages: { name: string; bytes: number }[]
}

/** Each function once, in the order the table lists them. */
export function functionNames(): { name: string; kind: 'api' | 'operator' }[] {
  const api = [...new Set(routes.map((route) => route.function)), fallbackRoute.function]
  return [
    ...api.map((name) => ({ name, kind: 'api' as const })),
    ...operatorFunctions.map(({ function: name }) => ({ name, kind: 'operator' as const })),
  ]
}

// Plain JavaScript, so the measured process does not pay for Node's TypeScript stripping.
const IMPORT_PROBE = [
  'const started = performance.now()',
  'await import(process.argv[1])',
  'const imported = performance.now()',
  'process.stdout.write(JSON.stringify({ importMs: imported - started }))',
  'process.exit(0)',
].join(';')

function javascriptBytes(outdir: string): { raw: number; gzip: number; data: number } {
  let raw = 0
  let gzip = 0
  for (const file of readdirSync(outdir)) {
    if (!/\.(mjs|js|cjs)$/.test(file)) continue
    const content = readFileSync(join(outdir, file))
    raw += content.length
    gzip += gzipSync(content).length
  }
  let data = 0
  for (const entry of readdirSync(outdir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name)
    const isTopLevelScript = entry.parentPath === outdir && /\.(mjs|js|cjs)$/.test(entry.name)
    if (entry.isFile() && !isTopLevelScript && !entry.name.endsWith('.map')) data += statSync(path).size
  }
  return { raw, gzip, data }
}

interface Timing {
  wallMs: number
  importMs: number
}

function timeProcess(args: string[], env: NodeJS.ProcessEnv): Timing {
  const started = performance.now()
  const result = spawnSync(process.execPath, args, { env, encoding: 'utf8' })
  const wallMs = performance.now() - started
  if (result.status !== 0) throw new Error(`${args.join(' ')} failed: ${result.stderr}`)
  const reported = result.stdout ? (JSON.parse(result.stdout) as { importMs: number }) : { importMs: 0 }
  return { wallMs, importMs: reported.importMs }
}

/**
 * Builds every function with the deploy's bundler, sizes it, and times a fresh process importing it; the runs are
 * interleaved (every bundle once, then again) so a change in the machine's load touches all of them alike. Sizes the
 * front end's client (client/) too.
 */
export function measureBundles(options: {
  outRoot: string
  runs: number
  env: { deployed: NodeJS.ProcessEnv; inline: NodeJS.ProcessEnv }
  inlineFor: readonly string[]
}) {
  const subjects = [
    ...functionNames().map(({ name, kind }) => ({
      name,
      kind,
      outdir: join(options.outRoot, name),
      build: (outdir: string) => bundleFunction(name, outdir),
    })),
    {
      name: 'hello-world',
      kind: 'baseline' as const,
      outdir: join(options.outRoot, 'hello-world'),
      build: (outdir: string) => bundleEntry('bench/hello.ts', outdir),
    },
  ]
  const built = subjects.map((subject) => ({ ...subject, bundle: subject.build(subject.outdir) }))

  const timings = new Map<string, Timing[]>()
  const record = (name: string, timing: Timing) => timings.set(name, [...(timings.get(name) ?? []), timing])
  const importing = (file: string, env: NodeJS.ProcessEnv) =>
    timeProcess(['--input-type=module', '-e', IMPORT_PROBE, file], env)
  for (let run = 0; run < options.runs; run++) {
    record('node -e 0', timeProcess(['-e', '0'], options.env.deployed))
    for (const subject of built) {
      record(subject.name, importing(subject.bundle.file, options.env.deployed))
      if (!options.inlineFor.includes(subject.name)) continue
      record(`${subject.name} (inline)`, importing(subject.bundle.file, options.env.inline))
    }
  }

  const summary = (name: string) => {
    const runs = timings.get(name) ?? []
    return { initMs: median(runs.map((r) => r.wallMs)), importMs: median(runs.map((r) => r.importMs)) }
  }
  const node: BundleFigures = {
    name: 'node -e 0',
    kind: 'baseline',
    rawBytes: 0,
    gzipBytes: 0,
    dataBytes: 0,
    ...summary('node -e 0'),
    packages: [],
  }
  const bundles = built.map((subject): BundleFigures => {
    const { raw, gzip, data } = javascriptBytes(subject.outdir)
    const map = JSON.parse(readFileSync(subject.bundle.sourceMap, 'utf8'))
    return {
      name: subject.name,
      kind: subject.kind,
      rawBytes: raw,
      gzipBytes: gzip,
      dataBytes: data,
      ...summary(subject.name),
      ...(options.inlineFor.includes(subject.name) ? { inline: summary(`${subject.name} (inline)`) } : {}),
      packages: packageSizesFromSourceMap(map, readFileSync(subject.bundle.file, 'utf8')),
    }
  })
  // The front end's client beside them: what an app ships of it, minified and gzipped.
  return { node, bundles, client: measureClient() }
}
