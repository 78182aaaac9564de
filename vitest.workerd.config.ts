import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-pool-workers';
import { defineConfig } from 'vitest/config';

// Integration tests inside real workerd (Miniflare) with the Worker, its objects, D1 and the queue.
export default defineConfig(async () => {
  const migrations = await readD1Migrations('migrations');
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: './wrangler.toml' },
        miniflare: { bindings: { LOCAL_MODE: 'true', TEST_MIGRATIONS: migrations } },
      }),
    ],
    test: {
      include: ['test/integration/**/*.test.ts'],
      setupFiles: ['test/integration/apply-migrations.ts'],
      // A fresh clone has no web/build yet (the Worker's static assets); workerd's expected log lines
      // (a test's deliberate abort, a closed chain port, the runner's socket) stay out of the output.
      globalSetup: ['test/global-setup/portal-build.ts', 'test/global-setup/quiet-workerd.ts'],
      testTimeout: 60_000,
      hookTimeout: 60_000,
    },
  };
});
