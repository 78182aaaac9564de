import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

// Plain-Node tests: pure domain, client, CLI, agent and the portal's pure helpers (web/src/lib, with
// the portal's import aliases). Workerd tests live in vitest.workerd.config.ts.
export default defineConfig({
  resolve: {
    alias: {
      $contracts: here('./durable-objects/contracts'),
      $domain: here('./durable-objects/domain'),
      $sdk: here('./sdk'),
      $programs: here('./programs'),
      $lib: here('./web/src/lib'),
    },
  },
  test: {
    include: ['durable-objects/**/*.test.ts', 'sdk/**/*.test.ts', 'workers/**/*.test.ts', 'gpu-agent/**/*.test.ts', 'web/src/**/*.test.ts', 'programs/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
  },
});
