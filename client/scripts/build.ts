/**
 * `npm run build` in client/: `dist/index.js`, one ES module for browsers, React Native and Node 20+ (an app's bundler
 * minifies it), and its declarations, from `src/` checked without Node's types, as a browser project sees it.
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { gzipSync } from 'node:zlib'
import { type BuildOptions, buildSync } from 'esbuild'

export const CLIENT_ROOT = resolve(import.meta.dirname, '..')

const bundling: BuildOptions = {
  entryPoints: [join(CLIENT_ROOT, 'src/index.ts')],
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  legalComments: 'none',
  logLevel: 'error',
}

/** Builds the package into `outdir` (`dist/` by default): `index.js` and a `.d.ts` beside it for each module. */
export function buildClient(outdir = join(CLIENT_ROOT, 'dist')): { module: string; types: string } {
  rmSync(outdir, { recursive: true, force: true })
  const module = join(outdir, 'index.js')
  buildSync({ ...bundling, outfile: module })
  const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin/tsc')
  execFileSync(process.execPath, [tsc, '-p', join(CLIENT_ROOT, 'tsconfig.json'), '--outDir', outdir], {
    stdio: 'inherit',
  })
  // The sources import each other as `.ts`, which Node runs and bundlers read; a declaration names the `.js` a
  // consumer resolves, whatever its TypeScript.
  for (const file of readdirSync(outdir).filter((name) => name.endsWith('.d.ts'))) {
    const path = join(outdir, file)
    writeFileSync(path, readFileSync(path, 'utf8').replace(/(from '\.\/[\w-]+)\.ts'/g, "$1.js'"))
  }
  return { module, types: join(outdir, 'index.d.ts') }
}

/**
 * The client as an app ships it: minified, then gzipped. The generated types are types only, so they weigh nothing;
 * every function of the client is counted, as an app that calls them all would ship them.
 */
export function measureClient(): { minifiedBytes: number; gzipBytes: number } {
  const [output] = buildSync({ ...bundling, write: false, minify: true }).outputFiles ?? []
  if (!output) throw new Error('esbuild wrote no client bundle')
  return { minifiedBytes: output.contents.length, gzipBytes: gzipSync(output.contents).length }
}

if (import.meta.main) {
  const { module, types } = buildClient()
  const { minifiedBytes, gzipBytes } = measureClient()
  process.stdout.write(`${module}, ${types}: ${minifiedBytes} bytes minified, ${gzipBytes} gzipped\n`)
}
