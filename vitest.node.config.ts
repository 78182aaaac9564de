import { defineConfig } from 'vitest/config';

// Plain-Node tests: pure domain, client, CLI. Workerd tests live in vitest.workerd.config.ts.
export default defineConfig({
  test: {
    include: ['durable-objects/**/*.test.ts', 'sdk/**/*.test.ts', 'workers/**/*.test.ts', 'gpu-agent/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
  },
});
