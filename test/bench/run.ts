// `npm run bench [-- [--quick] name...]`: every benchmark in one run (or only those named: orderbook,
// intake, agent, dispatch, jobs, local-chain, programs, chat, abuse); a table, then one JSON object as the last line.
// --quick runs each with small counts (CI: every bench still runs end to end; its figures are rough). Each bench bounds its own
// waits and stops what it started (stacks, agents) in a finally; one that fails is reported on
// stderr, the others still run, and the exit code is 1.
import { runAbuseBench } from './abuse.ts';
import { runAgentOverheadBench } from './agent-overhead.ts';
import { runChatBench } from './chat.ts';
import { runDispatchBench } from './dispatch.ts';
import { runIntakeBench } from './intake.ts';
import { runJobsBench } from './jobs.ts';
import { runLocalChainBench } from './local-chain.ts';
import { runOrderbookBench } from './orderbook.ts';
import { runProgramsBench } from './programs.ts';

const quick = process.argv.includes('--quick');
const BENCHES: Record<string, () => Promise<Record<string, number>>> = {
  orderbook: () => runOrderbookBench(quick ? { ops: 50_000 } : {}),
  intake: () => runIntakeBench(quick ? { events: 20_000, n: 1_000, batch: 100, rounds: 1 } : {}),
  agent: () => runAgentOverheadBench(quick ? { roundMs: 100 } : {}),
  dispatch: () => runDispatchBench(quick ? { bids: 10, warmup: 2 } : {}),
  jobs: () => runJobsBench(quick ? { jobs: 8, agents: 2 } : {}),
  'local-chain': () => runLocalChainBench(quick ? { transfers: 20, warmup: 2 } : {}),
  programs: () => runProgramsBench(quick ? { batches: 4, batch: 3, lookupProviders: 60 } : {}),
  chat: () => runChatBench(quick ? { tokens: 24, runs: 1, kills: 2, sizes: ['small'] } : {}),
  abuse: () => runAbuseBench(quick ? { flood: 400, reads: 50 } : {}),
};

const only = process.argv.slice(2).filter((arg) => arg !== '--quick');
const unknown = only.filter((name) => !(name in BENCHES));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; known: ${Object.keys(BENCHES).join(', ')}`);
  process.exit(2);
}

const results: Record<string, number> = {};
const seconds: Record<string, number> = {};
let failed = false;
for (const [name, run] of Object.entries(BENCHES)) {
  if (only.length > 0 && !only.includes(name)) continue;
  const start = performance.now();
  try {
    Object.assign(results, await run());
  } catch (err) {
    failed = true;
    console.error(`benchmark ${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }
  seconds[name] = Math.round((performance.now() - start) / 100) / 10;
}

const width = Math.max(9, ...Object.keys(results).map((k) => k.length));
console.log('\n' + 'benchmark'.padEnd(width + 2) + 'value');
for (const [k, v] of Object.entries(results)) console.log(k.padEnd(width + 2) + (Number.isInteger(v) ? v.toString() : v.toFixed(3)));
console.error(`took: ${Object.entries(seconds).map(([k, s]) => `${k} ${s} s`).join(', ')}`);
console.log(JSON.stringify(results));
if (failed) process.exitCode = 1;
