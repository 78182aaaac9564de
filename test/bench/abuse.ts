/**
 * Abuse benchmark: one account floods the API with signed bids (as a hostile user would: many at
 * once, far past what it may have open) while another account reads the markets and places its own
 * bids. The other account's latencies are measured first alone, then during the flood, in the same
 * run, through `npm start`'s stack (wrangler dev, real workerd); the flood comes from a process of its
 * own (test/bench/abuse-flood.ts). What the flood got is counted by
 * answer: placed, refused by the account's request budget (API__RATE_LIMITED), refused by the cap
 * on a key's open bids (MARKET__TOO_MANY_OPEN_BIDS).
 *
 *   node --import tsx test/bench/abuse.ts [--quick]
 */
import { generateKeypair } from '../../durable-objects/contracts/auth.ts';
import { toWire } from '../../durable-objects/contracts/tensors.ts';
import { UNITS_PER_DOUG } from '../../durable-objects/domain/money.ts';
import { buildMlpModel } from '../../gpu-agent/models/build.ts';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { DougClient } from '../../sdk/client.ts';
import { saveKeypair } from '../../sdk/keyfile.ts';
import { startStack, type Stack } from '../e2e/stack.ts';
import { benchStateRoot, percentile, printResult } from './harness.ts';

export interface AbuseBenchOptions {
  /** Bids the flooding account sends (default 2,000, as the issue measured). */
  flood?: number;
  /** Requests it keeps in flight (default 32). */
  concurrency?: number;
  /** The other account's timed reads in each phase (default 200). */
  reads?: number;
  log?: (line: string) => void;
}

const MARKET = 'cpu';

export async function runAbuseBench(o: AbuseBenchOptions = {}): Promise<Record<string, number>> {
  const log = o.log ?? ((line: string) => console.error(line));
  const flood = o.flood ?? 2_000;
  const concurrency = o.concurrency ?? 32;
  const reads = o.reads ?? 200;
  let stack: Stack | null = null;
  try {
    stack = await startStack({ chain: false, tmp: benchStateRoot(), markets: JSON.stringify([{ id: MARKET, description: MARKET }]) });
    const url = stack.url;
    const flooderKey = await generateKeypair();
    const flooder = new DougClient({ baseUrl: url, keypair: flooderKey });
    const keyPath = join(stack.dir, 'flooder.json');
    await saveKeypair(keyPath, flooderKey);
    const other = new DougClient({ baseUrl: url, keypair: await generateKeypair() });
    await flooder.faucet(1_000n * UNITS_PER_DOUG);
    await other.faucet(1_000n * UNITS_PER_DOUG);
    const model = await other.uploadModel(buildMlpModel({ inputSize: 8, hidden: 32, outputSize: 3, seed: 5 }));
    const input = await other.uploadInputs([toWire('x', 'float32', [1, 8], new Uint8Array(new Float32Array(8).buffer))]);
    const job = { modelSha256: model.sha256, inputSha256: input.inputSha256, inputBytes: input.inputBytes, tolerance: null };
    const bid = (client: DougClient) => client.placeBid({ market: MARKET, maxPrice: '1000', units: 1, replicas: 1, expiresAt: Date.now() + 3600_000, job });

    /** The other account: a read of the markets, and every tenth time a bid of its own; each timed. */
    const otherPhase = async (until: () => boolean) => {
      const readMs: number[] = [];
      const bidMs: number[] = [];
      let refused = 0;
      for (let i = 0; (i < reads || !until()) && i < reads * 20; i++) {
        const start = performance.now();
        if (i % 10 === 9) {
          await bid(other).catch(() => refused++);
          bidMs.push(performance.now() - start);
        } else {
          await (await fetch(`${url}/v1/markets`)).arrayBuffer();
          readMs.push(performance.now() - start);
        }
      }
      readMs.sort((a, b) => a - b);
      bidMs.sort((a, b) => a - b);
      return { readP50: percentile(readMs, 50), readP95: percentile(readMs, 95), bidP50: percentile(bidMs, 50), bidP95: percentile(bidMs, 95), n: readMs.length + bidMs.length, refused };
    };

    const alone = await otherPhase(() => true);
    const figures = (p: typeof alone) => `reads p50 ${p.readP50.toFixed(1)} ms, p95 ${p.readP95.toFixed(1)} ms; its bids p50 ${p.bidP50.toFixed(1)} ms, p95 ${p.bidP95.toFixed(1)} ms (${p.n} requests)`;
    log(`abuse: the other account alone: ${figures(alone)}`);

    // The flood runs in a process of its own: its signing must not hold back this one's event loop.
    let done = false;
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/bench/abuse-flood.ts', JSON.stringify({ url, keyPath, flood, concurrency, market: MARKET, job })], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    const flooding = new Promise<{ answers: Record<string, number>; seconds: number }>((resolve, reject) =>
      child.on('exit', (code) => (done = true, code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1)!)) : reject(new Error(`the flooding process exited ${code}`)))),
    );
    const during = await otherPhase(() => done);
    const flooded = await flooding;
    const answers = new Map(Object.entries(flooded.answers));
    const floodS = flooded.seconds;
    log(`abuse: ${flood} bids from one account in ${floodS.toFixed(1)} s: ${[...answers].map(([k, v]) => `${k} ${v}`).join(', ')}`);
    log(`abuse: the other account meanwhile: ${figures(during)}`);
    const unexpected = [...answers.keys()].filter((k) => !['placed', 'API__RATE_LIMITED', 'MARKET__TOO_MANY_OPEN_BIDS'].includes(k));
    if (unexpected.length > 0) throw new Error(`the flood got answers other than placed or a coded refusal: ${unexpected.join(', ')}`);
    if (during.refused > 0 || alone.refused > 0) throw new Error('the other account had a bid refused during the flood');
    return {
      abuse_flood_bids: flood,
      abuse_flood_placed: answers.get('placed') ?? 0,
      abuse_flood_rate_limited: answers.get('API__RATE_LIMITED') ?? 0,
      abuse_flood_open_bid_cap: answers.get('MARKET__TOO_MANY_OPEN_BIDS') ?? 0,
      abuse_flood_s: floodS,
      abuse_other_read_p95_ms_alone: alone.readP95,
      abuse_other_read_p95_ms_flood: during.readP95,
      abuse_other_read_p95_flood_vs_alone: during.readP95 / alone.readP95,
      abuse_other_bid_p95_ms_alone: alone.bidP95,
      abuse_other_bid_p95_ms_flood: during.bidP95,
      abuse_other_bid_p95_flood_vs_alone: during.bidP95 / alone.bidP95,
    };
  } finally {
    await stack?.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const quick = process.argv.includes('--quick');
  printResult(await runAbuseBench(quick ? { flood: 400, reads: 50 } : {}));
}
