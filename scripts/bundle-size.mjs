// The Worker's deploy bundle, built offline (`wrangler deploy --dry-run`), and its size against
// Cloudflare's Worker size limit: 3 MB (Free) / 10 MB (Paid) after compression. Fails only when the build does.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { offlineEnv } from './offline-env.mjs';

const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const outdir = mkdtempSync(join(tmpdir(), 'doug-bundle-'));
try {
  const build = spawnSync(join(root, 'node_modules/.bin/wrangler'), ['deploy', '--dry-run', '--outdir', outdir], { cwd: root, env: offlineEnv(root), encoding: 'utf8' });
  if (build.status !== 0) {
    process.stderr.write(`${build.stdout}${build.stderr}`);
    console.error(`the Worker bundle did not build (wrangler exited ${build.status ?? build.signal})`);
    process.exit(1);
  }
  const code = readdirSync(outdir).filter((f) => /\.(m?js|wasm)$/.test(f)).map((f) => readFileSync(join(outdir, f)));
  const raw = code.reduce((n, b) => n + b.length, 0);
  const gzip = code.reduce((n, b) => n + gzipSync(b, { level: 9 }).length, 0);
  const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
  const of = (limit) => `${((gzip / limit) * 100).toFixed(1)}%`;
  console.log(`worker bundle: ${kib(raw)} raw, ${kib(gzip)} gzip; ${of(3 * 1024 * 1024)} of the Free plan's 3 MB, ${of(10 * 1024 * 1024)} of the Paid plan's 10 MB (compressed)`);
} finally {
  rmSync(outdir, { recursive: true, force: true });
}
