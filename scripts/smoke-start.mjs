#!/usr/bin/env node
// `npm start` comes up and goes away: starts `node scripts/start.mjs` on a spare port with a
// throw-away state folder, waits for /v1/health, /v1/markets, the portal, the chain and both local
// agents' asks; then kills one agent with SIGKILL (a child that is already dead) and sends SIGTERM to
// the script's PID, as a service manager would, and checks that every process of its tree (collected
// from /proc before the signal: the agents, wrangler, workerd, the chain) is gone within 10 s and
// that it exited 0. Then the same again through npm (`npm start`, SIGTERM to npm's PID, which npm
// passes on) on the same state. Exits non-zero if either run fails; leaves no process behind.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const STOP_WITHIN_MS = 10_000;
const port = String(18000 + Math.floor(Math.random() * 1000));
const base = `http://127.0.0.1:${port}`;
const state = mkdtempSync(join(tmpdir(), 'doug-smoke-'));
// Its own local folder and a free chain port pair, so a running `npm start` (chain on 8899) is no obstacle.
const env = { ...process.env, PORT: port, DOUG_STATE: join(state, 'wrangler'), DOUG_LOCAL_DIR: join(state, 'local'), DOUG_CHAIN_PORT: '0', DOUG_AGENTS: '2' };

/** Every live process as pid -> { ppid, start (clock ticks since boot), zombie, cmd }. */
function processes() {
  const all = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // pid (comm) state ppid ... ; comm may hold spaces and parentheses, so split after the last ')'.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      all.set(Number(name), { ppid: Number(rest[1]), start: rest[19], zombie: rest[0] === 'Z', cmd });
    } catch {
      // gone meanwhile
    }
  }
  return all;
}

/** The process `root` and all its descendants, each as "pid:start" (a reused PID is another process). */
function tree(root) {
  const all = processes();
  const found = new Map();
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift();
    const p = all.get(pid);
    if (!p || p.zombie) continue;
    found.set(`${pid}:${p.start}`, { pid, cmd: p.cmd });
    for (const [child, c] of all) if (c.ppid === pid) queue.push(child);
  }
  return found;
}

/** Those of `procs` still running (zombies count as gone: they run nothing). */
function alive(procs) {
  const all = processes();
  return [...procs].filter(([key, { pid }]) => {
    const p = all.get(pid);
    return p && !p.zombie && `${pid}:${p.start}` === key;
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Starts the stack, checks it serves, kills one agent, SIGTERMs `signalPid(child)`, checks the tree is gone. */
async function run(label, command, args, full) {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  let seen = new Map();
  const fail = (why) => {
    throw new Error(`${label}: ${why}\n--- its output (last 4000 characters) ---\n${log.slice(-4000)}`);
  };
  try {
    const deadline = Date.now() + 150_000;
    let served = '';
    for (;;) {
      try {
        const health = await fetch(`${base}/v1/health`);
        const markets = await fetch(`${base}/v1/markets`);
        const body = await markets.json();
        const asks = await (await fetch(`${base}/v1/asks?market=cpu`)).json();
        let ok = health.ok && markets.ok && Array.isArray(body.items) && body.items.length > 0 && asks.items?.length >= 2;
        if (ok && full) {
          // The portal is served on the same origin; a deep link falls back to the single-page app.
          const portal = await fetch(`${base}/offers`);
          const html = portal.ok ? await portal.text() : '';
          // The local chain is up and the Worker knows the $DOUG mint on it.
          const chain = await fetch(`${base}/v1/chain`);
          const chainInfo = chain.ok ? await chain.json() : {};
          ok = html.includes('<title>DougAI</title>') && typeof chainInfo.mint === 'string';
          served = `the portal, ${body.items.length} markets, 2 agents' asks and $DOUG ${chainInfo.mint} on ${chainInfo.rpcUrl}`;
        }
        if (ok) break;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) fail('did not come up within 150 s');
      if (child.exitCode !== null || child.signalCode !== null) fail('exited before it served');
      await sleep(500);
    }
    const agents = [...tree(child.pid).values()].filter((p) => p.cmd.includes('gpu-agent/src/cli.ts'));
    if (agents.length !== 2) fail(`expected 2 agent processes, found ${agents.length}`);
    process.kill(agents[0].pid, 'SIGKILL');
    await sleep(500);
    seen = tree(child.pid);
    const kinds = ['wrangler.js dev', 'workerd', 'local-chain/cli.ts', 'gpu-agent/src/cli.ts'];
    for (const kind of kinds) if (![...seen.values()].some((p) => p.cmd.includes(kind))) fail(`no ${kind} process in its tree`);
    const t0 = Date.now();
    process.kill(child.pid, 'SIGTERM');
    while (alive(seen).length > 0 && Date.now() - t0 < STOP_WITHIN_MS) await sleep(100);
    const left = alive(seen);
    if (left.length > 0) fail(`SIGTERM left ${left.length} process(es) running after ${STOP_WITHIN_MS / 1000} s:\n${left.map(([, p]) => `  ${p.pid} ${p.cmd}`).join('\n')}`);
    const { code, signal } = await exited;
    if (code !== 0) fail(`exited with ${signal ?? `code ${code}`} on SIGTERM, not 0`);
    if (/could not withdraw/.test(log)) fail('an agent could not withdraw its ask while stopping');
    console.log(`${label}: served ${served || 'the API and 2 agents\' asks'} on 127.0.0.1:${port}; after SIGKILL of one agent, SIGTERM stopped all ${seen.size} processes in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    // Whatever happened, nothing of the tree is left behind.
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone
    }
    for (const [, { pid }] of alive(seen)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
}

let failed = false;
try {
  await run('node scripts/start.mjs', process.execPath, ['scripts/start.mjs'], true);
  await run('npm start', 'npm', ['start', '--silent'], false);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  failed = true;
} finally {
  rmSync(state, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
