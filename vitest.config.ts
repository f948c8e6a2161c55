import { defineConfig } from 'vitest/config';

/**
 * Two kinds of tests, by folder:
 * - test/unit: pure logic and in-process fakes that speak real protocols (the local Discord).
 *   No Postgres, no model server: `npx vitest --project unit` runs them on any machine in seconds.
 * - test/integration: the real parts (Postgres, PGlite, Ollama, the trainer, the bot process);
 *   the global setup starts a temporary Postgres and checks the provisioned model server.
 * - test/fuzz: bad input on every boundary (fast-check), with the integration project's setup.
 * `npm test` runs them all.
 */
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default'],
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { extends: true, test: { name: 'integration', include: ['test/integration/**/*.test.ts', 'test/fuzz/**/*.test.ts'], globalSetup: ['test/support/global-setup.ts'] } },
    ],
  },
});
