import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [sveltekit()],
  // The portal imports the shared contracts, money helpers and SDK client from the repository root.
  server: { fs: { allow: ['..'] }, proxy: { '/v1': 'http://127.0.0.1:8787' } },
  build: {
    target: 'es2022',
    chunkSizeWarningLimit: 400,
    // Rolldown's PLUGIN_TIMINGS notice (which plugins took the build's time) is a profiling hint,
    // not a problem with the portal; it appeared on every build under load.
    rolldownOptions: { checks: { bundlerTimings: false } },
  },
});
