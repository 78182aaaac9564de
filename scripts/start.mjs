#!/usr/bin/env node
// `npm start`: the whole local marketplace. Starts the local Solana chain (programs/local-chain,
// LiteSVM behind JSON-RPC) and sets up $DOUG on it once (scripts/chain-setup.ts: the mint, custody's
// token account and their authorities' keys under DOUG_LOCAL_DIR/chain), applies the D1 migrations
// to the local state, runs the Worker and its objects in `wrangler dev` (real workerd,
// SQLite/D1/R2/queues under .wrangler/state) in local mode (faucet on) on 127.0.0.1 with the chain's
// vars and secrets, then starts local CPU agents (two by default, so that two-replica jobs have two
// distinct providers). Ctrl-C drains the agents, then stops wrangler, then the chain (which saves).
//
// Environment: PORT (8787), DOUG_STATE (.wrangler/state), DOUG_LOCAL_DIR (.local: agent keys, model
// cache, chain keys and state), DOUG_AGENTS (2), DOUG_MARKET_LIST (override the markets, JSON),
// DOUG_CHAIN_PORT (8899; the chain also serves port + 1; 0 picks a free pair), DOUG_CHAIN=off (no
// chain: the faucet credits the ledger directly and deposits are refused).
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { offlineEnv } from './offline-env.mjs';

const port = process.env.PORT ?? '8787';
const persist = process.env.DOUG_STATE ?? '.wrangler/state';
const localDir = process.env.DOUG_LOCAL_DIR ?? '.local';
const agentCount = Number(process.env.DOUG_AGENTS ?? '2');
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

// The portal's static build, served by the Worker on the same origin (rebuilt only when stale).
const build = spawnSync(process.execPath, ['scripts/build-web.mjs', '--if-stale'], { stdio: ['ignore', 'inherit', 'inherit'] });
if (build.status !== 0) process.exit(build.status ?? 1);

const migrate = spawnSync(process.execPath, [...wrangler, 'd1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persist], { env, stdio: ['ignore', 'ignore', 'inherit'] });
if (migrate.status !== 0) process.exit(migrate.status ?? 1);

// The local chain first, in a process group of its own (stopped last, so that it saves its state).
let chain = null;
let chainConfig = null;
/** Stops the chain with SIGINT (it saves its state), SIGKILL after 10 s. */
const stopChain = () =>
  new Promise((done) => {
    if (!chain || chain.exitCode !== null) return done();
    chain.once('exit', done);
    chain.kill('SIGINT');
    setTimeout(() => chain.kill('SIGKILL'), 10_000).unref();
  });
/** Ctrl-C before wrangler runs: only the chain is there to stop. */
const stopEarly = () => stopChain().then(() => process.exit(130));
if (chainOn && !externalChainUrl) {
  chain = spawn(process.execPath, ['--import', 'tsx', 'programs/local-chain/cli.ts', '--port', chainPort, '--state', join(chainDir, 'state.json')], {
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true,
  });
  process.on('SIGINT', stopEarly);
  process.on('SIGTERM', stopEarly);
  const rpcUrl = await new Promise((resolveUrl) => {
    let seen = '';
    const onData = (chunk) => {
      seen += chunk;
      const m = /local chain: RPC (\S+)/.exec(seen);
      if (m) {
        chain.stdout.off('data', onData);
        chain.stdout.on('data', (d) => process.stdout.write(d));
        resolveUrl(m[1]);
      }
    };
    chain.stdout.on('data', onData);
    chain.once('exit', () => resolveUrl(null));
  });
  if (!rpcUrl) {
    console.error(`the local chain did not start (port ${chainPort} and ${Number(chainPort) + 1} must be free; DOUG_CHAIN_PORT picks others)`);
    process.exit(1);
  }
  // Idempotent: keys and accounts are made once; the chain's state file keeps them across restarts.
  const setup = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/chain-setup.ts', '--rpc', rpcUrl, '--dir', chainDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  if (setup.status !== 0) {
    await stopChain();
    process.exit(setup.status ?? 1);
  }
  chainConfig = JSON.parse(readFileSync(join(chainDir, 'config.json'), 'utf8'));
}
if (chainOn && externalChainUrl) {
  const setup = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/chain-setup.ts', '--rpc', externalChainUrl, '--dir', chainDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  if (setup.status !== 0) process.exit(setup.status ?? 1);
  chainConfig = JSON.parse(readFileSync(join(chainDir, 'config.json'), 'utf8'));
}

const vars = ['--var', 'LOCAL_MODE:true'];
if (process.env.DOUG_MARKET_LIST) vars.push('--var', `MARKET_LIST:${process.env.DOUG_MARKET_LIST}`);
if (chainConfig) {
  vars.push('--var', `SOLANA_RPC_URL:${workerRpcUrl ?? chainConfig.rpcUrl}`, '--var', `DOUG_MINT:${chainConfig.mint}`);
  if (workerRpcUrl) vars.push('--var', `SOLANA_PUBLIC_RPC_URL:${chainConfig.rpcUrl}`);
  vars.push('--var', `CUSTODY_TOKEN_ACCOUNT:${chainConfig.custodyTokenAccount}`, '--var', `CUSTODY_AUTHORITY:${chainConfig.custodyAuthority}`);
  // Secrets travel in a 0600 file, not on the command line; wrangler shows them as "(hidden)".
  vars.push('--env-file', resolve(chainDir, 'worker.env'));
}
// Children get process groups of their own: a terminal's Ctrl-C reaches only this script, which
// then stops them in order (agents drain while the server is still up, then the server).
const dev = spawn(process.execPath, [...wrangler, 'dev', '--ip', '127.0.0.1', '--port', port, '--persist-to', persist, ...vars, '--show-interactive-dev-session=false'], {
  env,
  stdio: ['ignore', 'pipe', 'inherit'],
  detached: true,
});
const agents = [];
let announced = false;
dev.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  if (!announced && /Ready on/.test(String(chunk))) {
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
    console.log(`  try        npm run demo      (a buyer: model, inputs, 2-replica bid, verified result)`);
    console.log(`             npm run doug -- keygen && npm run doug -- faucet 100 --deposit && npm run doug -- markets\n`);
  }
});

function startAgents() {
  for (let i = 1; i <= agentCount; i++) {
    const args = ['--import', 'tsx', 'gpu-agent/src/cli.ts', '--server', url, '--market', 'cpu', '--price', '0.001', '--capacity', '2'];
    args.push('--key', join(localDir, 'agents', `agent-${i}.json`), '--model-dir', join(localDir, 'models'));
    const child = spawn(process.execPath, args, { env: { ...process.env, DOUG_AGENT_FAULT: '' }, stdio: ['ignore', 'inherit', 'pipe'], detached: true });
    child.stderr.on('data', (d) => process.stderr.write(String(d).replace(/^(?=.)/gm, `[agent ${i}] `)));
    agents.push(child);
  }
}

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  // Agents drain (finish held work, withdraw their asks) while the server is still up.
  await Promise.all(
    agents.filter((a) => a.exitCode === null).map(
      (a) =>
        new Promise((resolve) => {
          a.once('exit', resolve);
          a.kill('SIGINT');
          setTimeout(() => a.kill('SIGKILL'), 15_000).unref();
        }),
    ),
  );
  dev.kill('SIGINT');
}
process.off('SIGINT', stopEarly);
process.off('SIGTERM', stopEarly);
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
process.on('exit', () => {
  for (const c of [...agents, dev, ...(chain ? [chain] : [])]) if (c.exitCode === null) c.kill('SIGKILL');
});
dev.on('exit', async (code) => {
  for (const a of agents) if (a.exitCode === null) a.kill('SIGKILL');
  // The chain goes last: it saves its state on SIGINT.
  await stopChain();
  process.exit(code ?? 0);
});
