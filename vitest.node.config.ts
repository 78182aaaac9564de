import { defineConfig } from 'vitest/config';
import aliases from './web/aliases.cjs';

// Plain-Node tests: pure domain, client, CLI, agent and the portal's pure helpers (web/src/lib, with
// the portal's import aliases). Workerd tests live in vitest.workerd.config.ts.
export default defineConfig({
  resolve: {
    alias: aliases,
  },
  test: {
    include: ['durable-objects/**/*.test.ts', 'sdk/**/*.test.ts', 'workers/**/*.test.ts', 'gpu-agent/**/*.test.ts', 'web/src/**/*.test.ts', 'programs/**/*.test.ts', 'scripts/**/*.test.ts'],
    environment: 'node',
    // A fresh clone has no web/.svelte-kit yet (the portal's specs need its tsconfig).
    globalSetup: ['test/global-setup/svelte-kit-sync.ts'],
    testTimeout: 60_000,
  },
});
