import { defineConfig } from 'drizzle-kit'

// Only `generate` and `check` are run from here; migrations are applied by the migrate function, never by
// drizzle-kit against a live database, so no connection string belongs in this file.
export default defineConfig({
  dialect: 'postgresql',
  schema: './db/schema.ts',
  out: './db/migrations',
  strict: true,
})
