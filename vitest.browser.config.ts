import { defineConfig } from 'vitest/config';

// The portal in a real browser (Debian's Chromium driven by playwright-core) against the `npm start`
// stack with local agents. One file at a time; screenshots go to test-output/browser/.
export default defineConfig({
  test: {
    include: ['web/tests/**/*.test.ts'],
    environment: 'node',
    // Fails at once, in one line, when Chromium is missing (before any stack starts).
    globalSetup: ['web/tests/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
