#!/usr/bin/env node
// `npm start`: the whole local marketplace. Applies the D1 migrations to the local state, then runs
// the Worker and its objects in `wrangler dev` (real workerd, SQLite under .wrangler/state) in
// local mode (faucet on), on 127.0.0.1. Ctrl-C stops everything it started.
import { spawn, spawnSync } from 'node:child_process';
import { offlineEnv } from './offline-env.mjs';

const port = process.env.PORT ?? '8787';
const persist = process.env.DOUG_STATE ?? '.wrangler/state';
const env = offlineEnv();
const wrangler = ['node_modules/wrangler/bin/wrangler.js'];

const migrate = spawnSync(process.execPath, [...wrangler, 'd1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persist], { env, stdio: 'inherit' });
if (migrate.status !== 0) process.exit(migrate.status ?? 1);

const vars = ['--var', 'LOCAL_MODE:true'];
if (process.env.DOUG_MARKET_LIST) vars.push('--var', `MARKET_LIST:${process.env.DOUG_MARKET_LIST}`);
const dev = spawn(
  process.execPath,
  [...wrangler, 'dev', '--ip', '127.0.0.1', '--port', port, '--persist-to', persist, ...vars, '--show-interactive-dev-session=false'],
  { env, stdio: ['ignore', 'pipe', 'inherit'] },
);
let announced = false;
dev.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  if (!announced && /Ready on/.test(String(chunk))) {
    announced = true;
    console.log(`\nDougAI local marketplace: API http://127.0.0.1:${port}/v1/markets`);
    console.log(`Try: npm run doug -- keygen && npm run doug -- faucet 100 && npm run doug -- markets\n`);
  }
});
const stop = () => dev.kill('SIGINT');
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
dev.on('exit', (code) => process.exit(code ?? 0));
