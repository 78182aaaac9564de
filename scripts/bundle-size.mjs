// The Worker's deploy bundle, built offline (`wrangler deploy --dry-run`), and its size against
// Cloudflare's Worker size limit. Fails only when the build does.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { offlineEnv } from './offline-env.mjs';

/**
 * 64 MiB uncompressed on every plan since 2026-09-04, when Cloudflare dropped the compressed limits
 * of 3 MB (Free) and 10 MB (Paid): https://developers.cloudflare.com/workers/platform/limits/#worker-size
 * (changelog 2026-09-04-increased-worker-size-limit; wrangler's reporter likewise, workers-sdk#14001).
 */
const LIMIT = { bytes: 64 * 1024 * 1024, source: 'developers.cloudflare.com/workers/platform/limits (since 2026-09-04)' };

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
  const share = `${((raw / LIMIT.bytes) * 100).toFixed(1)}%`;
  console.log(`worker bundle: ${kib(raw)} raw, ${kib(gzip)} gzip; ${share} of the 64 MiB (uncompressed) Worker size limit, ${LIMIT.source}`);
} finally {
  rmSync(outdir, { recursive: true, force: true });
}
