import { defineConfig } from 'vitest/config';

// End-to-end: the local stack (wrangler dev) with real agent processes. One file at a time.
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    environment: 'node',
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
