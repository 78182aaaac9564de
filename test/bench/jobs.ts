/**
 * Job throughput benchmark: completed, verified 2-replica jobs per second on one market, through
 * `npm start`'s stack (wrangler dev, real workerd) with 4 real `doug-agent` processes (capacity 2
 * each, real onnxruntime) running a small MLP. After a few warm-up jobs (agents connected, model
 * fetched and loaded), N bids go in as fast as the buyer can with a few requests in flight; the
 * buyer's jobs read model (GET /v1/jobs?buyer=) is polled until all N have ended.
 *
 * The stack's state (every object's SQLite file) lives under benchStateRoot (/dev/shm where it
 * exists): each object commit is a flush, and this machine's disk flushes capped the bench at about
 * half the rate with workerd partly idle; the marketplace's own work is what is measured.
 *
 * jobs_per_s_one_market = settled jobs / wall_s, where wall_s runs from the first bid sent to the
 * last JobSettled of the timed jobs (the `at` of the job's own timeline, a clock on this machine);
 * jobs_observed_s is when the poll saw them all (it adds the read model's lag and the poll period).
 *
 *   node --import tsx test/bench/jobs.ts [jobs] [prefetch] [bids in flight]
 *
 * Prints a table and, last, one JSON line.
 */
import { generateKeypair } from '../../durable-objects/contracts/auth.ts';
import { toWire } from '../../durable-objects/contracts/tensors.ts';
import { UNITS_PER_DOUG } from '../../durable-objects/domain/money.ts';
import { buildMlpModel } from '../../gpu-agent/models/build.ts';
import { faucetAndDeposit } from '../../sdk/deposit.ts';
import { DougClient, type JobView } from '../../sdk/client.ts';
import { eventually, startAgent, type AgentProcess } from '../e2e/agents.ts';
import { startStack, type Stack } from '../e2e/stack.ts';
import { benchStateRoot, median, printResult } from './harness.ts';

export interface JobsBenchOptions {
  /** Timed jobs (default 100). */
  jobs?: number;
  /** Bids in flight at once (default 4). */
  concurrency?: number;
  /** Agents (default 4), each with `capacity` slots (default 2). */
  agents?: number;
  capacity?: number;
  /** Each agent's prefetch window (default 0: the doug-agent default). */
  prefetch?: number;
  /** Give up after this long once bidding starts (default 180 s). */
  timeoutMs?: number;
  log?: (line: string) => void;
  /** Folder for the stack's state (benchStateRoot: /dev/shm where it exists). */
  tmp?: string;
}

/** The normal protocol parameters: no overrides. */
const MARKETS = JSON.stringify([{ id: 'cpu', description: 'General-purpose CPU inference' }]);
const MARKET = 'cpu';
const PRICE = '0.001';
const PRICE_UNITS = UNITS_PER_DOUG / 1000n;
const WARMUP_JOBS = 8;

const ended = (j: JobView) => j.status === 'settled' || j.status === 'refunded';

/** Every job of the buyer in the read model, by id. */
async function buyerJobs(buyer: DougClient): Promise<Map<string, JobView>> {
  const out = new Map<string, JobView>();
  let cursor: string | null = null;
  do {
    const page = await buyer.jobs({ buyer: buyer.accountKey!, limit: 200, cursor });
    for (const j of page.items) out.set(j.jobId, j);
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

/** One placed bid: its id, when the buyer sent it and when the answer came (this machine's clock). */
interface SentBid {
  id: string;
  sentAt: number;
  answeredAt: number;
}

/** Places `count` 2-replica bids, `concurrency` at a time. */
async function placeBids(buyer: DougClient, count: number, concurrency: number, spec: { modelSha256: string; inputSha256: string; inputBytes: number }): Promise<SentBid[]> {
  const bids: SentBid[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const sentAt = Date.now();
      const bid = await buyer.placeBid({ market: MARKET, maxPrice: 2n * PRICE_UNITS, units: 1, replicas: 2, expiresAt: Date.now() + 300_000, job: spec });
      bids.push({ id: bid.order.id, sentAt, answeredAt: Date.now() });
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return bids;
}

/**
 * Where a settled job's time goes, as medians in ms over the timed jobs: the bid's request, the
 * bid sent -> JobCreated (placement, escrow hold, matching, the market's outbox to the job),
 * JobCreated -> both replicas leased (dispatch to the agents), leased -> both results in (the runs
 * and the uploads), results -> JobSettled (verification and settlement). Clocks: the buyer's and
 * the job's are this machine's.
 */
function breakdown(bids: SentBid[], jobs: Map<string, JobView>): Record<string, number> {
  const stages = { request: [] as number[], toCreated: [] as number[], toLeased: [] as number[], toResults: [] as number[], toSettled: [] as number[] };
  for (const bid of bids) {
    const timeline = (jobs.get(bid.id)?.timeline ?? []) as { at: number; event: string }[];
    const at = (event: string, which: 'first' | 'last') => {
      const hits = timeline.filter((e) => e.event === event);
      return (which === 'first' ? hits[0] : hits[hits.length - 1])?.at;
    };
    const created = at('JobCreated', 'first');
    const leased = at('LeaseGranted', 'last');
    const results = at('ResultSubmitted', 'last');
    const settled = at('JobSettled', 'first');
    if (created === undefined || leased === undefined || results === undefined || settled === undefined) continue;
    stages.request.push(bid.answeredAt - bid.sentAt);
    stages.toCreated.push(created - bid.sentAt);
    stages.toLeased.push(leased - created);
    stages.toResults.push(results - leased);
    stages.toSettled.push(settled - results);
  }
  return {
    jobs_bid_request_ms_p50: median(stages.request),
    jobs_sent_to_created_ms_p50: median(stages.toCreated),
    jobs_created_to_leased_ms_p50: median(stages.toLeased),
    jobs_leased_to_results_ms_p50: median(stages.toResults),
    jobs_results_to_settled_ms_p50: median(stages.toSettled),
  };
}

export async function runJobsBench(opts: JobsBenchOptions = {}): Promise<Record<string, number>> {
  const n = opts.jobs ?? 100;
  const concurrency = opts.concurrency ?? 4;
  const agentCount = opts.agents ?? 4;
  const capacity = opts.capacity ?? 2;
  const prefetch = opts.prefetch ?? 0;
  const timeoutMs = opts.timeoutMs ?? 180_000;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const agents: AgentProcess[] = [];
  let stack: Stack | undefined;
  const agentLogs = () => agents.map((a) => a.log().slice(-1500)).join('\n');
  try {
    log('jobs: starting the stack');
    // No chain: this bench times the market -> job -> agent path, which never touches it; the faucet
    // then credits the ledger itself (faucetAndDeposit also deposits when a chain is on).
    stack = await startStack({ markets: MARKETS, chain: false, tmp: benchStateRoot(opts.tmp) });
    const buyerKey = await generateKeypair();
    const buyer = new DougClient({ baseUrl: stack.url, keypair: buyerKey });
    await faucetAndDeposit(buyer, buyerKey, 1000n * UNITS_PER_DOUG);
    const model = await buyer.uploadModel(buildMlpModel({ inputSize: 8, hidden: 32, outputSize: 3, seed: 5 }));
    const x = new Float32Array([0.5, -1, 2, 0.25, 3, -0.5, 1, 0]);
    const input = await buyer.uploadInputs([toWire('x', 'float32', [1, 8], new Uint8Array(x.buffer))]);
    const spec = { modelSha256: model.sha256, inputSha256: input.inputSha256, inputBytes: input.inputBytes };

    log(`jobs: starting ${agentCount} doug-agent processes (capacity ${capacity}, prefetch ${prefetch})`);
    for (let i = 0; i < agentCount; i++) {
      agents.push(await startAgent({ url: stack.url, dir: stack.dir, name: `bench-${i + 1}`, market: MARKET, price: PRICE, capacity, prefetch }));
    }
    for (const a of agents) {
      await eventually(async () => (await buyer.asks({ market: MARKET, owner: a.key.publicKey })).items.length === 1, 'an agent ask', 60_000, a.log);
    }

    log(`jobs: ${WARMUP_JOBS} warm-up jobs`);
    const warm = await placeBids(buyer, WARMUP_JOBS, concurrency, spec);
    await eventually(async () => {
      const jobs = await buyerJobs(buyer);
      return warm.every(({ id }) => jobs.has(id) && ended(jobs.get(id)!));
    }, 'the warm-up jobs to end', 90_000, agentLogs);

    log(`jobs: ${n} timed 2-replica jobs, ${concurrency} bids in flight`);
    const startWall = Date.now();
    const start = performance.now();
    const bids = await placeBids(buyer, n, concurrency, spec);
    const ids = bids.map((b) => b.id);
    const bidsDone = performance.now();
    const final = await eventually(async () => {
      const jobs = await buyerJobs(buyer);
      return ids.every((id) => jobs.has(id) && ended(jobs.get(id)!)) ? jobs : null;
    }, `${n} jobs to end`, timeoutMs, agentLogs);
    const observed = (performance.now() - start) / 1000;
    const timed = ids.map((id) => final.get(id)!);
    const settled = timed.filter((j) => j.status === 'settled');
    const settledAt = settled.map((j) => {
      const t = (j.timeline as { at: number; event: string }[] | undefined)?.find((e) => e.event === 'JobSettled')?.at;
      return t ?? startWall + observed * 1000;
    });
    const wall = (Math.max(...settledAt, startWall) - startWall) / 1000;
    return {
      jobs_per_s_one_market: Math.round((settled.length / wall) * 100) / 100,
      jobs: n,
      jobs_settled: settled.length,
      jobs_refunded: timed.length - settled.length,
      wall_s: Math.round(wall * 100) / 100,
      jobs_observed_s: Math.round(observed * 100) / 100,
      jobs_bids_placed_s: Math.round((bidsDone - start) / 10) / 100,
      ...breakdown(bids, final),
    };
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
    await stack?.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const jobs = process.argv[2] ? Number(process.argv[2]) : undefined;
  const prefetch = process.argv[3] ? Number(process.argv[3]) : undefined;
  const concurrency = process.argv[4] ? Number(process.argv[4]) : undefined;
  printResult(await runJobsBench({ ...(jobs ? { jobs } : {}), ...(prefetch !== undefined ? { prefetch } : {}), ...(concurrency ? { concurrency } : {}) }));
}
