// `npm run bench`: every benchmark in one run; a table, then one JSON object as the last line.
import { runIntakeBench } from './intake.ts';
import { runOrderbookBench } from './orderbook.ts';

const results: Record<string, number> = {};
const only = process.argv.slice(2);
const want = (name: string) => only.length === 0 || only.includes(name);

if (want('orderbook')) Object.assign(results, await runOrderbookBench());
if (want('intake')) Object.assign(results, await runIntakeBench());

const width = Math.max(...Object.keys(results).map((k) => k.length));
console.log('\nbenchmark'.padEnd(width + 2) + 'value');
for (const [k, v] of Object.entries(results)) console.log(k.padEnd(width + 2) + (Number.isInteger(v) ? v.toString() : v.toFixed(3)));
console.log(JSON.stringify(results));
