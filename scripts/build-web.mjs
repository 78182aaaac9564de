#!/usr/bin/env node
// Builds the portal (web/ → web/build) with Vite and SvelteKit's static adapter. With --if-stale it
// builds only when a source file is newer than the last build, so `npm start` restarts quickly.
// The build goes to a staging folder first and then updates web/build in place (new files first,
// stale ones last): a running `wrangler dev` watching web/build answered 500 for every page once it
// caught the folder half rebuilt, and did not recover until restarted.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
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

const staging = join(web, '.build-next');
const build = join(web, 'build');
rmSync(staging, { recursive: true, force: true });
const vite = join(root, 'node_modules', 'vite', 'bin', 'vite.js');
const result = spawnSync(process.execPath, [vite, 'build', '--logLevel', 'warn'], { cwd: web, stdio: 'inherit', env: { ...process.env, DOUG_WEB_OUT: '.build-next' } });
if (result.status !== 0) process.exit(result.status ?? 1);

/** Every file under a folder, as paths relative to it. */
function files(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath ?? e.path, e.name)));
}
const fresh = files(staging);
const keep = new Set(fresh);
// index.html last: it names the new hashed bundles, which must be in place before it.
for (const name of [...fresh.filter((f) => f !== 'index.html'), 'index.html']) {
  const from = join(staging, name);
  const to = join(build, name);
  if (existsSync(to) && readFileSync(to).equals(readFileSync(from))) continue;
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
}
for (const name of files(build)) if (!keep.has(name)) rmSync(join(build, name));
rmSync(staging, { recursive: true, force: true });
