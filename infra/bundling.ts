import { cpSync, existsSync, mkdirSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildSync } from 'esbuild'
import { BUNDLED_SWAGGER_UI_DIRECTORY, SWAGGER_UI_DIST_FILES } from '#shared/swagger-ui'

export const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/** The Node major the functions run on in Lambda, and that the bundles target. */
export const LAMBDA_NODE_MAJOR = 24

/** Functions whose bundle carries files besides the code: the migrate function carries the migrations. */
const EXTRA_FILES: Record<string, { from: string; to: string }[]> = {
  migrate: [{ from: 'db/migrations', to: 'migrations' }],
  // Swagger UI's assets, served by the docs function itself (no CDN); shared/swagger-ui.ts reads them from there.
  docs: Object.keys(SWAGGER_UI_DIST_FILES).map((file) => ({
    from: `node_modules/swagger-ui-dist/${file}`,
    to: `${BUNDLED_SWAGGER_UI_DIRECTORY}/${file}`,
  })),
}

/**
 * Bundles `functions/<name>.ts` into `<outdir>/index.mjs`: minified ESM with a linked source map, carrying
 * everything it imports (the AWS SDK included, so nothing is loaded from the runtime's node_modules). The one
 * bundler: CDK's local bundling, the benchmark and the bundle tests all call it, so they measure what deploys.
 */
export function bundleFunction(name: string, outdir: string): { file: string; sourceMap: string } {
  const entry = join(repositoryRoot, 'functions', `${name}.ts`)
  if (!existsSync(entry)) throw new Error(`no function ${name} (expected ${entry})`)
  mkdirSync(outdir, { recursive: true })
  const file = join(outdir, 'index.mjs')
  buildSync({
    entryPoints: [entry],
    outfile: file,
    absWorkingDir: repositoryRoot,
    bundle: true,
    platform: 'node',
    target: `node${LAMBDA_NODE_MAJOR}`,
    format: 'esm',
    minify: true,
    sourcemap: 'linked',
    sourcesContent: false,
    legalComments: 'none',
    mainFields: ['module', 'main'],
    // Some CommonJS dependencies (the AWS SDK's) call require() for Node built-ins; ESM has no require of its own.
    banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
    logLevel: 'error',
  })
  for (const extra of EXTRA_FILES[name] ?? []) {
    cpSync(join(repositoryRoot, extra.from), join(outdir, extra.to), { recursive: true })
  }
  return { file, sourceMap: `${file}.map` }
}
