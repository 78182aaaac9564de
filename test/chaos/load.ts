import { join } from 'node:path';
import { DougApiError } from '../../sdk/client.ts';
import { defaultExecutor, defaultProbe, main as agentMain, type ExecutorOptions, type Probe } from '../../gpu-agent/src/cli.ts';
import type { Executor } from '../../gpu-agent/src/agent.ts';
import { percentile, withTimeout } from '../bench/harness.ts';
import { eventually } from '../e2e/agents.ts';
import type { Size } from './scenarios.ts';
import { chatSessions, newBuyer, PRICE, PRICE_UNITS, type Buyer, type World } from './world.ts';

/*
 * The load run: many agent sockets and thousands of bids across several markets at once. The
 * agents are the real agent (gpu-agent/src/cli.ts `main`, its socket, its ONNX executor), run
 * in this process so that a hundred of them fit on this machine: they share one probe and one
 * executor (two ONNX threads), as many slots of one machine would. Buyers bid from several keys
 * (each key has its request budget), two requests in flight per key. What is measured: bids
 * answered per second, the bid request's latency, and every answer that was not an acceptance;
 * the checks after it (world.ts) prove every payment made once.
 */

export interface LoadOutcome {
  agentSockets: number;
  bids: number;
  accepted: number;
  refusedByCode: Record<string, number>;
  /** Answers that were neither an acceptance nor a coded refusal (a defect). */
  uncoded: number;
  ordersPerS: number;
  p50Ms: number;
  p99Ms: number;
  /** The bid request alone (one at a time, nothing else going on), in the same run. */
  aloneP50Ms: number;
  aloneP99Ms: number;
  wallS: number;
  chat: { completions: number; answered: number; tokens: number; refusedByCode: Record<string, number> };
}

interface InProcessAgent {
  key: string;
  done: Promise<number>;
  stop: () => void;
  log: () => string;
}

const LOAD_MARKETS = ['load-a', 'load-b', 'load-c'];

export async function runLoad(w: World, o: { size: Size; log: (line: string) => void }): Promise<{ outcome: LoadOutcome; failures: string[]; stop: () => Promise<void> }> {
  const agentCount = o.size === 'quick' ? 102 : 150;
  const bidCount = o.size === 'quick' ? 2_000 : 3_000;
  const buyerCount = 8;
  const failures: string[] = [];
  let probe: Promise<Probe> | null = null;
  let executor: Promise<Executor> | null = null;
  const io = (out: { text: string }, onStop: (h: (signal: string) => void) => void) => ({
    stdout: (t: string) => void (out.text += t),
    stderr: (t: string) => void (out.text = (out.text + t).slice(-20_000)),
    env: {},
    probe: () => (probe ??= defaultProbe()),
    createExecutor: (opts: ExecutorOptions) => (executor ??= defaultExecutor({ ...opts, threads: 2 })),
    onStop: (h: (signal: string) => void) => {
      onStop(h);
      return () => undefined;
    },
  });
  o.log(`load: ${agentCount} agents in this process over ${LOAD_MARKETS.join(', ')}`);
  const agents: InProcessAgent[] = [];
  for (let i = 0; i < agentCount; i++) {
    const out = { text: '' };
    let stopper: ((signal: string) => void) | null = null;
    const keyPath = join(w.dir, 'load-agents', `a${i}.json`);
    const argv = ['--server', w.stack.url, '--market', LOAD_MARKETS[i % LOAD_MARKETS.length]!, '--price', PRICE, '--capacity', '1', '--key', keyPath, '--model-dir', join(w.dir, 'load-models'), '--drain-timeout', '5s'];
    const done = agentMain(argv, io(out, (h) => (stopper = h)));
    agents.push({ key: '', done, stop: () => stopper?.('SIGINT'), log: () => out.text });
  }
  const stop = async () => {
    for (const a of agents) a.stop();
    await withTimeout(Promise.all(agents.map((a) => a.done)), 60_000, 'the load agents to stop').catch((err: unknown) => failures.push(String(err)));
  };
  // An agent is on its socket once the server welcomed it ("agent working").
  const connected = () => agents.filter((a) => a.log().includes('agent working')).length;
  await eventually(async () => connected() === agentCount, `${agentCount} agent sockets`, 120_000, () => agents.find((a) => !a.log().includes('agent working'))?.log() ?? '');
  for (const a of agents) {
    const key = /agent key (\S+)/.exec(a.log())?.[1];
    if (key) {
      a.key = key;
      w.providers.add(key);
      w.accounts.add(key);
    }
  }
  o.log(`load: ${connected()} agent sockets; funding ${buyerCount} buyers`);
  const buyers: Buyer[] = [];
  for (let i = 0; i < buyerCount; i++) buyers.push(await newBuyer(w, 20n));
  w.buyers.push(...buyers);

  // The baseline, in the same run: one bid at a time from one buyer, nothing else going on.
  const alone: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    const res = await buyers[0]!.client.placeBid({ market: LOAD_MARKETS[i % LOAD_MARKETS.length]!, maxPrice: 2n * PRICE_UNITS, units: 1, replicas: 1, expiresAt: Date.now() + 120_000, job: w.spec });
    w.bids.set(res.order.id, buyers[0]!.key.publicKey);
    alone.push(performance.now() - t);
  }
  alone.sort((a, b) => a - b);
  o.log(`load: ${bidCount} bids, 2 in flight per buyer`);
  const latencies: number[] = [];
  const refusedByCode: Record<string, number> = {};
  let accepted = 0;
  let uncoded = 0;
  let next = 0;
  const started = performance.now();
  const lane = async (buyer: Buyer) => {
    while (next < bidCount) {
      const i = next++;
      const market = LOAD_MARKETS[i % LOAD_MARKETS.length]!;
      const t = performance.now();
      try {
        const res = await withTimeout(buyer.client.placeBid({ market, maxPrice: 2n * PRICE_UNITS, units: 1, replicas: 1, expiresAt: Date.now() + 120_000, job: w.spec }), 30_000, 'a bid');
        w.bids.set(res.order.id, buyer.key.publicKey);
        accepted++;
      } catch (err) {
        // A refusal is coded: a 4xx, or a 503 naming what is unavailable (the chain, say) with nothing changed.
        if (err instanceof DougApiError && ((err.status >= 400 && err.status < 500) || (err.status === 503 && err.code !== 'API__INTERNAL'))) refusedByCode[err.code] = (refusedByCode[err.code] ?? 0) + 1;
        else {
          uncoded++;
          if (uncoded <= 3) failures.push(`load: a bid got ${err instanceof DougApiError ? `${err.status} ${err.code}` : String(err)}`);
        }
      }
      latencies.push(performance.now() - t);
    }
  };
  // Two in flight per key keeps each key within its request budget (workers/rate-limit.ts) at this machine's pace.
  const bidding = Promise.all(buyers.flatMap((b) => [lane(b), lane(b)]));
  // Progress every 10 s: bids answered, jobs the agents ran, and the latency of the bids answered since the last line.
  let shown = 0;
  const progress = setInterval(() => {
    const window = latencies.slice(shown).sort((a, b) => a - b);
    shown = latencies.length;
    const ran = agents.reduce((n, a) => n + (a.log().match(/: ran in /g)?.length ?? 0), 0);
    const last = window.length === 0 ? 'no bid answered' : `${window.length} bids, p50 ${Math.round(percentile(window, 50))} ms, p99 ${Math.round(percentile(window, 99))} ms`;
    o.log(`load: ${latencies.length}/${bidCount} bids answered, ${ran} jobs run; the last 10 s: ${last}`);
  }, 10_000);
  const stopProgress = () => clearInterval(progress);
  bidding.then(stopProgress, stopProgress);
  // Chat conversations at the same time, on the fault market's agents (each holds a stage).
  const chat = chatSessions(w, buyers[0]!, 3, bidding);
  await bidding;
  const wallS = (performance.now() - started) / 1000;
  const c = await chat;
  failures.push(...c.failures);
  latencies.sort((a, b) => a - b);
  const outcome: LoadOutcome = {
    agentSockets: connected(),
    bids: bidCount,
    accepted,
    refusedByCode,
    uncoded,
    ordersPerS: Math.round((latencies.length / wallS) * 10) / 10,
    p50Ms: Math.round(percentile(latencies, 50)),
    p99Ms: Math.round(percentile(latencies, 99)),
    aloneP50Ms: Math.round(percentile(alone, 50)),
    aloneP99Ms: Math.round(percentile(alone, 99)),
    wallS: Math.round(wallS * 10) / 10,
    chat: { completions: c.completions, answered: c.answered, tokens: c.tokens, refusedByCode: c.refusedByCode },
  };
  return { outcome, failures, stop };
}
