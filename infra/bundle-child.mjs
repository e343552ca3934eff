// Runs one esbuild build with the options `infra/bundling.ts` passes as JSON (argv[2]), adding the plugins its
// synchronous API cannot take (CDK's local bundling is synchronous, so bundling.ts runs this in a child process).
import { build } from 'esbuild'

/**
 * drizzle's table module imports every PostgreSQL column type (some 14 KB of class definitions: geometry, vectors,
 * ranges, …) for one use: `pgTable(name, (t) => ({ … }))`, the callback form, which hands the callback that
 * catalogue. `db/schema.ts` uses the object form with the builders it imports, so the catalogue is replaced by a
 * function that says so if it is ever called; every bundle is run alone in test/infra/bundles.test.ts, so a schema
 * in the callback form fails there.
 */
const withoutDrizzleColumnCatalogue = {
  name: 'without-drizzle-column-catalogue',
  setup(builder) {
    builder.onResolve({ filter: /^\.\/columns\/all\.js$/ }, ({ importer }) =>
      /drizzle-orm[\\/]pg-core[\\/]table\.js$/.test(importer)
        ? { path: 'drizzle-column-catalogue', namespace: 'papa-auth' }
        : undefined,
    )
    builder.onLoad({ filter: /^drizzle-column-catalogue$/, namespace: 'papa-auth' }, () => ({
      loader: 'js',
      contents:
        "export function getPgColumnBuilders() { throw new Error('db/schema.ts: declare tables in the object form (pgTable(name, { … })); the bundle carries no column catalogue') }",
    }))
  },
}

const options = JSON.parse(process.argv[2] ?? '{}')
try {
  await build({ ...options, plugins: [withoutDrizzleColumnCatalogue] })
} catch {
  // esbuild has printed its errors (logLevel 'error').
  process.exit(1)
}
