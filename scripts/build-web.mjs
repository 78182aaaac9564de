#!/usr/bin/env node
// Builds the portal (web/ → web/build) with Vite and SvelteKit's static adapter. With --if-stale it
// builds only when a source file is newer than the last build, so `npm start` restarts quickly.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const web = join(root, 'web');
const marker = join(web, 'build', 'index.html');

/** Newest modification time under the given paths (files or folders), skipping build outputs. */
function newest(paths) {
  let latest = 0;
  for (const p of paths) {
    if (!existsSync(p)) continue;
    const s = statSync(p);
    if (s.isDirectory()) latest = Math.max(latest, newest(readdirSync(p).map((name) => join(p, name))));
    else latest = Math.max(latest, s.mtimeMs);
  }
  return latest;
}

// What the portal is built from: its own sources and the shared contracts, domain and SDK it imports.
const sources = [join(web, 'src'), join(web, 'static'), join(web, 'svelte.config.js'), join(web, 'vite.config.ts'), join(root, 'durable-objects', 'contracts'), join(root, 'durable-objects', 'domain'), join(root, 'sdk'), join(root, 'package-lock.json')];
if (process.argv.includes('--if-stale') && existsSync(marker) && statSync(marker).mtimeMs >= newest(sources)) process.exit(0);

const vite = join(root, 'node_modules', 'vite', 'bin', 'vite.js');
const result = spawnSync(process.execPath, [vite, 'build', '--logLevel', 'warn'], { cwd: web, stdio: 'inherit' });
process.exit(result.status ?? 1);
