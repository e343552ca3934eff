import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    globalSetup: ['./test/helpers/global-setup.ts'],
    setupFiles: ['./test/helpers/environment.ts'],
    include: ['test/**/*.test.ts', 'client/test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // A passing test's logs are noise; a failing test's are the evidence (test/helpers/environment.ts routes them).
    silent: 'passed-only',
    // Handlers keep one pool per module graph, as a Lambda container does; files run in separate workers.
    pool: 'forks',
    maxWorkers: 2,
  },
})
