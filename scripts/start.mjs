#!/usr/bin/env node
// `npm start`: the whole local marketplace. Starts the local Solana chain (programs/local-chain,
// LiteSVM behind JSON-RPC) and sets up $DOUG on it once (scripts/chain-setup.ts: the mint, custody's
// token account and their authorities' keys under DOUG_LOCAL_DIR/chain), applies the D1 migrations
// to the local state, runs the Worker and its objects in `wrangler dev` (real workerd,
// SQLite/D1/R2/queues under .wrangler/state) in local mode (faucet on) on 127.0.0.1 with the chain's
// vars and secrets, then starts local CPU agents (two by default, so that two-replica jobs have two
// distinct providers). SIGINT or SIGTERM to this process (Ctrl-C, `kill PID`, or either to npm, which
// passes it on) drains the agents while the server is up, then stops wrangler (and its workerd), then
// the chain (which saves): each child runs in a process group of its own and the whole group is
// stopped, SIGKILL after a bounded wait, so that nothing is left within about ten seconds. A second
// signal stops everything at once.
//
// Environment: PORT (8787), DOUG_STATE (.wrangler/state), DOUG_LOCAL_DIR (.local: agent keys, model
// cache, chain keys and state), DOUG_AGENTS (2; they also hold the chat model's stages unless
// DOUG_CHAT=off), DOUG_MARKET_LIST (override the markets, JSON),
// DOUG_CHAIN_PORT (8899; the chain also serves port + 1; 0 picks a free pair), DOUG_CHAIN=off (no
// chain: the faucet credits the ledger directly and deposits are refused), DOUG_CUSTODY (escrow, the
// default: buyers' $DOUG in their own escrows, verified payouts settled on chain by the escrow
// program; token-account: custody's token account, the ledger paying providers).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { offlineEnv } from './offline-env.mjs';

const port = process.env.PORT ?? '8787';
const persist = process.env.DOUG_STATE ?? '.wrangler/state';
const localDir = process.env.DOUG_LOCAL_DIR ?? '.local';
const agentCount = Number(process.env.DOUG_AGENTS ?? '2');
const chatOn = process.env.DOUG_CHAT !== 'off';
const chainPort = process.env.DOUG_CHAIN_PORT ?? '8899';
const chainOn = process.env.DOUG_CHAIN !== 'off';
const chainDir = join(localDir, 'chain');
// For tests: DOUG_CHAIN_URL runs on a chain that is already up (none is started; the setup runs
// against it); DOUG_WORKER_RPC_URL gives the Worker another RPC URL than the chain's (a fault proxy
// in front of it) while clients are still told the chain's own (SOLANA_PUBLIC_RPC_URL).
const externalChainUrl = process.env.DOUG_CHAIN_URL || null;
const workerRpcUrl = process.env.DOUG_WORKER_RPC_URL || null;
const env = offlineEnv();
const wrangler = ['node_modules/wrangler/bin/wrangler.js'];
const url = `http://127.0.0.1:${port}`;

// How long each stage of a stop may take before its process group is killed: the agents drain held
// work for up to AGENT_DRAIN (local CPU jobs take milliseconds) and withdraw their asks while the
// server is still up; wrangler then stops workerd; the chain saves its state last.
const AGENT_DRAIN = '4s';
const AGENT_GRACE_MS = 5_000;
const DEV_GRACE_MS = 2_500;
const CHAIN_GRACE_MS = 2_000;

/**
 * A child in a process group of its own (detached): a terminal's Ctrl-C reaches only this script,
 * which stops the children in order, and a stop reaches everything the child started (wrangler's
 * workerd and esbuild) by signalling the group.
 */
function child(args, o) {
  const proc = spawn(process.execPath, args, { ...o, detached: true });
  const c = { proc, alive: true, exited: null };
  c.exited = new Promise((resolveExit) =>
    proc.once('exit', (code, signal) => {
      c.alive = false;
      resolveExit({ code, signal });
    }),
  );
  return c;
}

/** Sends a signal to a child's whole process group; a group already gone is no error. */
function signalGroup(c, signal) {
  try {
    process.kill(-c.proc.pid, signal);
  } catch {
    // the group is gone
  }
}

/**
 * Asks a child's group to stop (`signal`) and waits for the child to exit, for at most `graceMs`;
 * then SIGKILLs the group in any case, for whatever its leader left behind (a child already killed,
 * `kill -9` of an agent, has nothing to wait for).
 */
async function stopChild(c, signal, graceMs) {
  if (c.alive) {
    signalGroup(c, signal);
    let timer;
    await Promise.race([c.exited, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
  }
  signalGroup(c, 'SIGKILL');
  await c.exited;
}

let chain = null;
let setupRun = null;
let dev = null;
const agents = [];
/** Set once a stop has begun: the start-up sequence goes no further. */
let stopping = null;

/** Stops everything in order (agents, wrangler, chain) and exits with `code`. */
function stop(code) {
  stopping ??= (async () => {
    await Promise.all(agents.map((a) => stopChild(a, 'SIGINT', AGENT_GRACE_MS)));
    if (setupRun) await stopChild(setupRun, 'SIGTERM', 1_000);
    if (dev) await stopChild(dev, 'SIGINT', DEV_GRACE_MS);
    // The chain goes last: it saves its state on SIGINT.
    if (chain) await stopChild(chain, 'SIGINT', CHAIN_GRACE_MS);
    process.exit(code);
  })();
  return stopping;
}

/** Every child at once, for a second signal and for this process's own exit. */
function killAll() {
  for (const c of [...agents, setupRun, dev, chain]) if (c) signalGroup(c, 'SIGKILL');
}

let firstSignalAt = 0;
/**
 * A deliberate stop exits 0 (npm then prints no error). A second signal a second or more after the
 * first stops at once; Ctrl-C under npm delivers one twice (the terminal's, and npm passing its own on).
 */
function onSignal() {
  if (firstSignalAt === 0) {
    firstSignalAt = Date.now();
    void stop(0);
  } else if (Date.now() - firstSignalAt >= 1_000) {
    killAll();
    process.exit(1);
  }
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
process.on('SIGHUP', onSignal);
process.on('exit', killAll);

/** Parks the start-up sequence once a stop has begun (the stop exits the process). */
const halt = () => (stopping ? new Promise(() => {}) : undefined);

/** Runs a step to its end in a group of its own (a signal meanwhile stops it); answers its exit code. */
async function step(args, o) {
  setupRun = child(args, o);
  const { code, signal } = await setupRun.exited;
  await halt();
  setupRun = null;
  return code ?? (signal ? 1 : 0);
}

// The portal's static build, served by the Worker on the same origin (rebuilt only when stale).
const built = await step(['scripts/build-web.mjs', '--if-stale'], { stdio: ['ignore', 'inherit', 'inherit'] });
if (built !== 0) await stop(built);

const migrated = await step([...wrangler, 'd1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persist], { env, stdio: ['ignore', 'ignore', 'inherit'] });
if (migrated !== 0) await stop(migrated);

// The local chain first (stopped last, so that it saves its state).
let chainConfig = null;
if (chainOn && !externalChainUrl) {
  chain = child(['--import', 'tsx', 'programs/local-chain/cli.ts', '--port', chainPort, '--state', join(chainDir, 'state.json')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const rpcUrl = await new Promise((resolveUrl) => {
    let seen = '';
    const onData = (chunk) => {
      seen += chunk;
      const m = /local chain: RPC (\S+)/.exec(seen);
      if (m) {
        chain.proc.stdout.off('data', onData);
        chain.proc.stdout.on('data', (d) => process.stdout.write(d));
        resolveUrl(m[1]);
      }
    };
    chain.proc.stdout.on('data', onData);
    chain.exited.then(() => resolveUrl(null));
  });
  await halt();
  if (!rpcUrl) {
    console.error(`the local chain did not start (port ${chainPort} and ${Number(chainPort) + 1} must be free; DOUG_CHAIN_PORT picks others)`);
    await stop(1);
  }
  // Idempotent: keys and accounts are made once; the chain's state file keeps them across restarts.
  const setup = await step(['--import', 'tsx', 'scripts/chain-setup.ts', '--rpc', rpcUrl, '--dir', chainDir], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (setup !== 0) await stop(setup);
  chainConfig = JSON.parse(readFileSync(join(chainDir, 'config.json'), 'utf8'));
}
if (chainOn && externalChainUrl) {
  const setup = await step(['--import', 'tsx', 'scripts/chain-setup.ts', '--rpc', externalChainUrl, '--dir', chainDir], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (setup !== 0) await stop(setup);
  chainConfig = JSON.parse(readFileSync(join(chainDir, 'config.json'), 'utf8'));
}

const vars = ['--var', 'LOCAL_MODE:true'];
if (process.env.DOUG_MARKET_LIST) vars.push('--var', `MARKET_LIST:${process.env.DOUG_MARKET_LIST}`);
// The chaos suite only (test/chaos): every outbox message and projection run delivered twice.
if (process.env.DOUG_CHAOS_DELIVERY) vars.push('--var', `CHAOS_DELIVERY:${process.env.DOUG_CHAOS_DELIVERY}`);
if (chainConfig) {
  vars.push('--var', `SOLANA_RPC_URL:${workerRpcUrl ?? chainConfig.rpcUrl}`, '--var', `DOUG_MINT:${chainConfig.mint}`);
  if (workerRpcUrl) vars.push('--var', `SOLANA_PUBLIC_RPC_URL:${chainConfig.rpcUrl}`);
  vars.push('--var', `CUSTODY_TOKEN_ACCOUNT:${chainConfig.custodyTokenAccount}`, '--var', `CUSTODY_AUTHORITY:${chainConfig.custodyAuthority}`);
  if (process.env.DOUG_CUSTODY !== 'token-account') vars.push('--var', `ESCROW_PROGRAM:${chainConfig.programs.escrow}`, '--var', `SETTLEMENT_TABLE:${chainConfig.settlementTable}`);
  // Secrets travel in a 0600 file, not on the command line; wrangler shows them as "(hidden)".
  vars.push('--env-file', resolve(chainDir, 'worker.env'));
}
dev = child([...wrangler, 'dev', '--ip', '127.0.0.1', '--port', port, '--persist-to', persist, ...vars, '--show-interactive-dev-session=false'], {
  env,
  stdio: ['ignore', 'pipe', 'inherit'],
});
// wrangler ending on its own ends the rest (agents first, while nothing else is up, then the chain).
dev.exited.then(({ code }) => void stop(code ?? 1));
let announced = false;
dev.proc.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  if (!announced && !stopping && /Ready on/.test(String(chunk))) {
    announced = true;
    startAgents();
    console.log(`\nDougAI local marketplace`);
    console.log(`  portal     ${url}/`);
    console.log(`  API        ${url}/v1/markets`);
    console.log(`  offers     ${url}/v1/asks`);
    console.log(`  audit      ${url}/v1/audit`);
    if (chainConfig) {
      console.log(`  chain      ${chainConfig.rpcUrl}  (local Solana; state in ${chainDir}/state.json)`);
      console.log(`  $DOUG mint ${chainConfig.mint}  custody ${chainConfig.custodyTokenAccount}`);
    } else {
      console.log(`  chain      off (DOUG_CHAIN=off): the faucet credits the ledger directly`);
    }
    console.log(`  agents     ${agentCount} local CPU agent(s) on market cpu (keys in ${localDir}/agents)`);
    console.log(`  stop       Ctrl-C, or kill ${process.pid} (SIGINT or SIGTERM)`);
    console.log(`  try        npm run demo      (a buyer: model, inputs, 2-replica bid, verified result)`);
    console.log(`             npm run doug -- keygen && npm run doug -- faucet 100 --deposit && npm run doug -- markets\n`);
  }
});

function startAgents() {
  for (let i = 1; i <= agentCount; i++) {
    const args = ['--import', 'tsx', 'gpu-agent/src/cli.ts', '--server', url, '--market', 'cpu', '--price', '0.001', '--capacity', '2', '--drain-timeout', AGENT_DRAIN];
    args.push('--key', join(localDir, 'agents', `agent-${i}.json`), '--model-dir', join(localDir, 'models'));
    // The first agents also hold the shipped chat model (examples/chat), one stage each, so the Chat page and /v1/chat/completions work at once.
    if (chatOn) args.push('--chat-model', 'examples/chat', '--stages', String(Math.min(agentCount, 2)), '--hold', String((i - 1) % Math.min(agentCount, 2)));
    const agent = child(args, { env: { ...process.env, DOUG_AGENT_FAULT: '' }, stdio: ['ignore', 'inherit', 'pipe'] });
    agent.proc.stderr.on('data', (d) => process.stderr.write(String(d).replace(/^(?=.)/gm, `[agent ${i}] `)));
    agent.exited.then(({ code, signal }) => {
      if (!stopping) process.stderr.write(`[agent ${i}] exited (${signal ?? `code ${code}`}); the others go on\n`);
    });
    agents.push(agent);
  }
}
