#!/usr/bin/env node
// `npm start`: the whole local marketplace. Applies the D1 migrations to the local state, runs the
// Worker and its objects in `wrangler dev` (real workerd, SQLite/D1/R2/queues under .wrangler/state)
// in local mode (faucet on) on 127.0.0.1, then starts local CPU agents (two by default, so that
// two-replica jobs have two distinct providers). Ctrl-C drains the agents and stops everything.
//
// Environment: PORT (8787), DOUG_STATE (.wrangler/state), DOUG_LOCAL_DIR (.local: agent keys and
// model cache), DOUG_AGENTS (2), DOUG_MARKET_LIST (override the markets, JSON).
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { offlineEnv } from './offline-env.mjs';

const port = process.env.PORT ?? '8787';
const persist = process.env.DOUG_STATE ?? '.wrangler/state';
const localDir = process.env.DOUG_LOCAL_DIR ?? '.local';
const agentCount = Number(process.env.DOUG_AGENTS ?? '2');
const env = offlineEnv();
const wrangler = ['node_modules/wrangler/bin/wrangler.js'];
const url = `http://127.0.0.1:${port}`;

// The portal's static build, served by the Worker on the same origin (rebuilt only when stale).
const build = spawnSync(process.execPath, ['scripts/build-web.mjs', '--if-stale'], { stdio: ['ignore', 'inherit', 'inherit'] });
if (build.status !== 0) process.exit(build.status ?? 1);

const migrate = spawnSync(process.execPath, [...wrangler, 'd1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persist], { env, stdio: ['ignore', 'ignore', 'inherit'] });
if (migrate.status !== 0) process.exit(migrate.status ?? 1);

const vars = ['--var', 'LOCAL_MODE:true'];
if (process.env.DOUG_MARKET_LIST) vars.push('--var', `MARKET_LIST:${process.env.DOUG_MARKET_LIST}`);
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
    console.log(`  agents     ${agentCount} local CPU agent(s) on market cpu (keys in ${localDir}/agents)`);
    console.log(`  try        npm run demo      (a buyer: model, inputs, 2-replica bid, verified result)`);
    console.log(`             npm run doug -- keygen && npm run doug -- faucet 100 && npm run doug -- markets\n`);
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
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
process.on('exit', () => {
  for (const c of [...agents, dev]) if (c.exitCode === null) c.kill('SIGKILL');
});
dev.on('exit', (code) => {
  for (const a of agents) if (a.exitCode === null) a.kill('SIGKILL');
  process.exit(code ?? 0);
});
