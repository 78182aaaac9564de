// `npm run bench [-- name...]`: every benchmark in one run (or only those named: orderbook, intake,
// agent, dispatch, jobs, local-chain); a table, then one JSON object as the last line. Each bench bounds its own
// waits and stops what it started (stacks, agents) in a finally; one that fails is reported on
// stderr, the others still run, and the exit code is 1.
import { runAgentOverheadBench } from './agent-overhead.ts';
import { runDispatchBench } from './dispatch.ts';
import { runIntakeBench } from './intake.ts';
import { runJobsBench } from './jobs.ts';
import { runLocalChainBench } from './local-chain.ts';
import { runOrderbookBench } from './orderbook.ts';

const BENCHES: Record<string, () => Promise<Record<string, number>>> = {
  orderbook: () => runOrderbookBench(),
  intake: () => runIntakeBench(),
  agent: () => runAgentOverheadBench(),
  dispatch: () => runDispatchBench(),
  jobs: () => runJobsBench(),
  'local-chain': () => runLocalChainBench(),
};

const only = process.argv.slice(2);
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
