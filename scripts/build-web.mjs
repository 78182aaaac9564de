#!/usr/bin/env node
// Builds the portal (web/ → web/build) with Vite and SvelteKit's static adapter. With --if-stale it
// builds only when a source file is newer than the last build, so `npm start` restarts quickly; with
// --if-missing only when there is no build (the workerd tests serve web/build as the Worker's assets).
// One build at a time (a lock folder, web/.build-lock, naming its holder's PID): two at once wrote the
// same web/.svelte-kit and failed; one that waited builds only if still needed.
// The build goes to a staging folder first and then updates web/build in place (new files first,
// stale ones last): a running `wrangler dev` watching web/build answered 500 for every page once it
// caught the folder half rebuilt, and did not recover until restarted.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
/** Whether the build asked for is there already (--if-stale: newer than every source; --if-missing: at all). */
const upToDate = () =>
  existsSync(marker) && (process.argv.includes('--if-missing') || (process.argv.includes('--if-stale') && statSync(marker).mtimeMs >= newest(sources)));
const conditional = process.argv.includes('--if-stale') || process.argv.includes('--if-missing');
if (conditional && upToDate()) process.exit(0);

const lock = join(web, '.build-lock');
/** Takes the lock, waiting (up to 5 minutes) while another live build holds it; a dead holder's lock is taken over. */
function acquire() {
  const deadline = Date.now() + 300_000;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      return;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    }
    let holder = 0;
    try {
      holder = Number(readFileSync(join(lock, 'pid'), 'utf8'));
    } catch {
      // being written or removed: look again
    }
    let alive = true;
    if (holder > 0) {
      try {
        process.kill(holder, 0);
      } catch (err) {
        alive = err.code === 'EPERM';
      }
    }
    if (!alive) rmSync(lock, { recursive: true, force: true });
    else if (Date.now() > deadline) throw new Error(`another portal build (PID ${holder}) holds ${lock}; remove it if that build is gone`);
    else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 250);
  }
}
acquire();
process.on('exit', () => rmSync(lock, { recursive: true, force: true }));
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => process.exit(1));
if (conditional && upToDate()) process.exit(0);

const staging = join(web, '.build-next');
const build = join(web, 'build');
rmSync(staging, { recursive: true, force: true });
const vite = join(root, 'node_modules', 'vite', 'bin', 'vite.js');
const result = spawnSync(process.execPath, [vite, 'build', '--logLevel', 'warn'], { cwd: web, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, DOUG_WEB_OUT: '.build-next' } });
// SvelteKit's progress lines are dropped: its hint to `npm run preview` names a script this project
// does not have (`npm start` serves the build), and the adapter names the staging folder. Anything
// else (a warning at --logLevel warn) is passed on.
const chatter = [/^$/, /^Run npm run preview to preview your production build locally\.$/, /^> Using @sveltejs\/adapter-static$/, /^Wrote site to /, /^✔ done$/];
const plain = (line) => line.replace(/\x1b\[[0-9;]*m/g, '').trim();
const kept = String(result.stdout ?? '').split('\n').filter((line) => !chatter.some((re) => re.test(plain(line))));
if (kept.length > 0) process.stdout.write(`${kept.join('\n')}\n`);
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
