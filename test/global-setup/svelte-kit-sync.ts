import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The portal's specs compile under web/tsconfig.json, which extends the file `svelte-kit sync`
 * writes (web/.svelte-kit/tsconfig.json, not committed): on a fresh clone it is made here, once, so
 * that `npm run test:node` runs on its own.
 */
export default function svelteKitSync(): void {
  const web = join(process.cwd(), 'web');
  if (existsSync(join(web, '.svelte-kit', 'tsconfig.json'))) return;
  const sync = spawnSync(process.execPath, [join(process.cwd(), 'node_modules', '@sveltejs', 'kit', 'svelte-kit.js'), 'sync'], { cwd: web, stdio: ['ignore', 'ignore', 'inherit'] });
  if (sync.status !== 0) throw new Error(`svelte-kit sync (for the portal's specs) exited ${sync.status ?? sync.signal}`);
}
