import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { basename, dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { BuildOptions } from 'esbuild'
import {
  BUNDLED_SWAGGER_UI_DIRECTORY,
  SWAGGER_UI_DIST_FILES,
  swaggerUiDistDirectory,
} from '#shared/http/swagger-ui'

export const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/** The Node major the functions run on in Lambda, and that the bundles target. */
export const LAMBDA_NODE_MAJOR = 24

/** The committed migrations, which the migrate function's bundle carries beside itself. */
export const MIGRATIONS_FOLDER = join(repositoryRoot, 'db/migrations')

export interface BundleOptions {
  /** Another migrations folder for the migrate bundle (tests that change the migration set); absolute path. */
  migrationsFolder?: string
}

export interface Bundle {
  file: string
  sourceMap: string
}

/**
 * The password blocklist's module, which reads its Bloom filter from beside itself at the first check: in a bundle,
 * beside `index.mjs`. Named by path, as infra/ imports nothing from shared/domain.
 */
export const PASSWORD_BLOCKLIST = {
  module: 'shared/domain/password-blocklist/password-blocklist.ts',
  filter: 'shared/domain/password-blocklist/common-passwords.bloom',
}

/**
 * Files a bundle carries besides its code, as absolute source folders and paths inside the bundle. `sources`: the
 * modules the bundle's code came from (its source map's), so that only a bundle that can check a new password
 * carries the blocklist, and every such bundle does.
 */
function extraFiles(
  name: string,
  options: BundleOptions,
  sources: readonly string[],
): { from: string; to: string }[] {
  const files: { from: string; to: string }[] = []
  if (sources.includes(PASSWORD_BLOCKLIST.module)) {
    files.push({
      from: join(repositoryRoot, PASSWORD_BLOCKLIST.filter),
      to: basename(PASSWORD_BLOCKLIST.filter),
    })
  }
  if (name === 'migrate')
    files.push({ from: options.migrationsFolder ?? MIGRATIONS_FOLDER, to: 'migrations' })
  // Swagger UI's assets, served by the docs function itself (no CDN); shared/http/swagger-ui.ts reads them from there.
  if (name === 'docs') {
    for (const file of Object.keys(SWAGGER_UI_DIST_FILES)) {
      files.push({
        from: join(swaggerUiDistDirectory(), file),
        to: `${BUNDLED_SWAGGER_UI_DIRECTORY}/${file}`,
      })
    }
  }
  return files
}

/**
 * Bundles `functions/<name>.ts` into `<outdir>/index.mjs`: minified ESM with a linked source map, carrying
 * everything it imports (the AWS SDK included, so nothing is loaded from the runtime's node_modules). The one
 * bundler: CDK's local bundling, the benchmark and the bundle tests all call it, so they measure what deploys.
 */
export function bundleFunction(name: string, outdir: string, options: BundleOptions = {}): Bundle {
  const bundle = bundleEntry(join('functions', `${name}.ts`), outdir, { lambdaInit: true })
  const { sources } = JSON.parse(readFileSync(bundle.sourceMap, 'utf8')) as { sources: string[] }
  for (const extra of extraFiles(name, options, sources)) {
    cpSync(extra.from, join(outdir, extra.to), { recursive: true })
  }
  return bundle
}

/**
 * The module Lambda loads for a function: the function's own, then, at the top level, the end of its init
 * (`initialized`, shared/platform/init.ts), which in a provisioned environment waits for the work the function's
 * module started (its secrets, its first connection) before Lambda freezes the environment. On demand it returns at
 * once. Here, so that no function's file has to say it.
 */
const lambdaEntry = (entryPath: string) => ({
  contents: [
    `export * from ${JSON.stringify(`./${entryPath.split(sep).join('/')}`)}`,
    "import { initialized } from '#shared/platform/init'",
    'await initialized()',
  ].join('\n'),
  resolveDir: repositoryRoot,
  sourcefile: 'papa-auth:lambda-entry',
  loader: 'ts' as const,
})

/**
 * Bundles any TypeScript entry (a path from the repository root) the same way: the Neon provider's handler. A
 * function's (`lambdaInit`) ends its init as `lambdaEntry` says.
 */
export function bundleEntry(entryPath: string, outdir: string, { lambdaInit = false } = {}): Bundle {
  const entry = join(repositoryRoot, entryPath)
  if (!existsSync(entry)) throw new Error(`no entry ${entryPath} (expected ${entry})`)
  mkdirSync(outdir, { recursive: true })
  const file = join(outdir, 'index.mjs')
  const options: BuildOptions = {
    ...(lambdaInit ? { stdin: lambdaEntry(entryPath) } : { entryPoints: [entry] }),
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
    // Lambda supplies credentials in the environment: the SDK's default chain would never get past that link,
    // and dropping the rest (with the STS and SSO clients it carries) keeps ~135 KB out of every bundle.
    alias: { '@aws-sdk/credential-provider-node': './infra/lambda-credentials.ts' },
    // Some CommonJS dependencies (the AWS SDK's) call require() for Node built-ins; ESM has no require of its own.
    banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
    logLevel: 'error',
  }
  // A child process, for the plugins (./bundle-child.mjs) that esbuild's synchronous API does not take: CDK bundles
  // synchronously.
  const child = spawnSync(
    process.execPath,
    [join(import.meta.dirname, 'bundle-child.mjs'), JSON.stringify(options)],
    {
      cwd: repositoryRoot,
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  )
  if (child.status !== 0) throw new Error(`bundling ${entryPath} failed (esbuild said why above)`)
  const sourceMap = `${file}.map`
  pinSourcePaths(sourceMap)
  return { file, sourceMap }
}

/**
 * esbuild writes source paths relative to the output folder, so the same code bundled into another folder (CDK's
 * staging folder, a test's temp folder) would differ, change the asset hash, and redeploy every function. Paths from
 * the repository root make the bundle depend on the code alone, and read well in stack traces.
 */
function pinSourcePaths(sourceMap: string) {
  const map = JSON.parse(readFileSync(sourceMap, 'utf8')) as { sources: string[] }
  const folder = dirname(sourceMap)
  // A plugin's module (`papa-auth:…`, ./bundle-child.mjs) is named, not a file: kept as it is.
  map.sources = map.sources.map((source) =>
    /^[a-z-]+:/.test(source)
      ? source
      : relative(repositoryRoot, resolve(folder, source)).split(sep).join('/'),
  )
  writeFileSync(sourceMap, JSON.stringify(map))
}
