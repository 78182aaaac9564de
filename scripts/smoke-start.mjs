#!/usr/bin/env node
// Starts `npm start` on a spare port with a throw-away state folder, waits for /v1/health and
// /v1/markets and the portal, then stops it. Exits non-zero (within 120 s) if the local stack does not come up.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const port = String(18000 + Math.floor(Math.random() * 1000));
const state = mkdtempSync(join(tmpdir(), 'doug-smoke-'));
// Its own local folder and a free chain port pair, so a running `npm start` (chain on 8899) is no obstacle.
const child = spawn(process.execPath, ['scripts/start.mjs'], {
  env: { ...process.env, PORT: port, DOUG_STATE: state, DOUG_LOCAL_DIR: join(state, 'local'), DOUG_CHAIN_PORT: '0' },
  stdio: ['ignore', 'pipe', 'pipe'],
  detached: true,
});
let log = '';
child.stdout.on('data', (d) => (log += d));
child.stderr.on('data', (d) => (log += d));

const stop = (code) => {
  try {
    process.kill(-child.pid, 'SIGINT');
  } catch {}
  setTimeout(() => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {}
    rmSync(state, { recursive: true, force: true });
    process.exit(code);
  }, 1500);
};

const deadline = Date.now() + 120_000;
for (;;) {
  try {
    const health = await fetch(`http://127.0.0.1:${port}/v1/health`);
    const markets = await fetch(`http://127.0.0.1:${port}/v1/markets`);
    const body = await markets.json();
    // The portal is served on the same origin; a deep link falls back to the single-page app.
    const portal = await fetch(`http://127.0.0.1:${port}/offers`);
    const html = portal.ok ? await portal.text() : '';
    // The local chain is up and the Worker knows the $DOUG mint on it.
    const chain = await fetch(`http://127.0.0.1:${port}/v1/chain`);
    const chainInfo = chain.ok ? await chain.json() : {};
    if (health.ok && markets.ok && Array.isArray(body.items) && body.items.length > 0 && html.includes('<title>DougAI</title>') && typeof chainInfo.mint === 'string') {
      console.log(`npm start serves the portal, ${body.items.length} markets and $DOUG ${chainInfo.mint} on ${chainInfo.rpcUrl}, on 127.0.0.1:${port}`);
      stop(0);
      break;
    }
  } catch {}
  if (Date.now() > deadline || child.exitCode !== null) {
    console.error(`npm start did not come up:\n${log.slice(-4000)}`);
    stop(1);
    break;
  }
  await new Promise((r) => setTimeout(r, 500));
}
