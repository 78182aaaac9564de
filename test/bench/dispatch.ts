/**
 * Dispatch latency benchmark: the time from an accepted bid (the moment the POST /v1/bids answer
 * arrives at the buyer) to its assignment arriving at an agent, through `npm start`'s stack
 * (wrangler dev, real workerd) on loopback, with a market under the normal protocol parameters.
 *
 * Two in-process agents (minimal ws clients in this process: challenge, hello signed with their own
 * keypair, each owning an ask placed through the SDK, then `ready`) timestamp each `assign`, answer
 * it at once with a fixed result so the slot frees, and announce their slots again. Bids are placed
 * one at a time; a bid's sample is assign arrival minus bid answer, both performance.now() in this
 * process. The assign can beat the HTTP answer (a negative sample); dispatch_from_request_* time
 * from sending the request instead. A replica is dispatched only once its job object exists
 * (market outbox -> job), so this is the real path.
 *
 * dispatch_*: replicas 1 (one assignment). dispatch_2r_*: replicas 2 (two distinct providers), the
 * sample being the later of the two assignments.
 *
 *   node --import tsx test/bench/dispatch.ts [bids]
 *
 * Prints a table and, last, one JSON line.
 */
import { WebSocket } from 'ws';
import { AGENT_PROTOCOL_VERSION, helloMessage, type AssignMessage, type HelloMessage, type ServerMessage } from '../../durable-objects/contracts/agent.ts';
import { generateKeypair, signText, type Keypair } from '../../durable-objects/contracts/auth.ts';
import { tensorsDigest, toWire, type WireTensor } from '../../durable-objects/contracts/tensors.ts';
import { UNITS_PER_DOUG } from '../../durable-objects/domain/money.ts';
import { buildMlpModel } from '../../gpu-agent/models/build.ts';
import { agentSocketUrl } from '../../gpu-agent/src/net/connection.ts';
import { faucetAndDeposit } from '../../sdk/deposit.ts';
import { DougClient } from '../../sdk/client.ts';
import { startStack, type Stack } from '../e2e/stack.ts';
import { benchStateRoot, percentile, printResult, withTimeout } from './harness.ts';

export interface DispatchBenchOptions {
  /** Timed bids per replica count (default 200). */
  bids?: number;
  /** Untimed bids first (default 20). */
  warmup?: number;
  /** Also time 2-replica bids (default true). */
  twoReplicas?: boolean;
  /** Progress lines on stderr. */
  log?: (line: string) => void;
  /** Folder for the stack's state (benchStateRoot: /dev/shm where it exists). */
  tmp?: string;
}

/** The normal protocol parameters: no overrides. */
const MARKETS = JSON.stringify([{ id: 'cpu', description: 'General-purpose CPU inference' }]);
const MARKET = 'cpu';
const PRICE = UNITS_PER_DOUG / 1000n;
const CAPACITY = 2;

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** A minimal agent in this process: it answers every assign at once with a fixed result. */
class BenchAgent {
  readonly keypair: Keypair;
  private ws: WebSocket | null = null;
  /** jobId -> performance.now() of each assign's arrival. */
  readonly arrivals = new Map<string, number[]>();
  private listeners: ((jobId: string) => void)[] = [];
  readonly errors: string[] = [];

  private constructor(keypair: Keypair, private readonly result: { outputs: WireTensor[]; outputDigest: string }) {
    this.keypair = keypair;
  }

  static async create(result: { outputs: WireTensor[]; outputDigest: string }): Promise<BenchAgent> {
    return new BenchAgent(await generateKeypair(), result);
  }

  onAssign(listener: (jobId: string) => void): void {
    this.listeners.push(listener);
  }

  clearListeners(): void {
    this.listeners = [];
  }

  /** Connects, proves the key, and announces its slots; resolves on welcome. */
  connect(server: string, askId: string): Promise<void> {
    const ws = new WebSocket(agentSocketUrl(server, MARKET));
    this.ws = ws;
    return new Promise<void>((resolve, reject) => {
      ws.on('error', reject);
      ws.on('close', (code, reason) => reject(new Error(`agent socket closed (${code} ${reason.toString()})`)));
      ws.on('message', (data) => {
        const at = performance.now();
        const m = JSON.parse(data.toString()) as ServerMessage;
        switch (m.type) {
          case 'challenge':
            void signText(this.keypair, helloMessage({ market: MARKET, nonce: m.nonce, agentKey: this.keypair.publicKey })).then((signature) => {
              const hello: HelloMessage = {
                type: 'hello', v: AGENT_PROTOCOL_VERSION, agentKey: this.keypair.publicKey, signature, askId,
                hardware: { cpuModel: 'bench', cores: 1, memoryGb: 1, gpus: [] },
                runtime: { onnxruntime: 'bench', executionProvider: 'cpu', platform: process.platform, arch: process.arch, cpuFeatures: [] },
              };
              ws.send(JSON.stringify(hello));
            });
            return;
          case 'welcome':
            ws.send(JSON.stringify({ type: 'ready', slots: CAPACITY }));
            resolve();
            return;
          case 'assign':
            return this.assigned(m, at);
          case 'error':
            this.errors.push(`${m.code}: ${m.message}`);
            return;
          case 'cancel':
            return;
        }
      });
    });
  }

  private assigned(m: AssignMessage, at: number): void {
    const list = this.arrivals.get(m.jobId) ?? [];
    list.push(at);
    this.arrivals.set(m.jobId, list);
    for (const l of this.listeners) l(m.jobId);
    const ws = this.ws!;
    ws.send(JSON.stringify({ type: 'result', jobId: m.jobId, leaseId: m.leaseId, outputs: this.result.outputs, outputDigest: this.result.outputDigest, timings: { loadMs: 0, runMs: 0 } }));
    ws.send(JSON.stringify({ type: 'ready', slots: CAPACITY }));
  }

  close(): void {
    const ws = this.ws;
    this.ws = null;
    if (!ws) return;
    ws.removeAllListeners();
    ws.on('error', () => {});
    ws.terminate();
  }
}

/** Places bids one at a time; returns the per-bid samples (ms). */
async function timeBids(o: {
  buyer: DougClient;
  agents: BenchAgent[];
  replicas: number;
  count: number;
  spec: { modelSha256: string; inputSha256: string; inputBytes: number };
}): Promise<{ fromAnswer: number[]; fromRequest: number[] }> {
  const fromAnswer: number[] = [];
  const fromRequest: number[] = [];
  const arrivalsOf = (jobId: string): number[] => o.agents.flatMap((a) => a.arrivals.get(jobId) ?? []);
  for (let i = 0; i < o.count; i++) {
    let jobId: string | null = null;
    let wake: (() => void) | null = null;
    const all = new Promise<void>((resolve) => (wake = resolve));
    const check = (id: string) => {
      if (id === jobId && arrivalsOf(id).length >= o.replicas) wake?.();
    };
    for (const a of o.agents) a.onAssign(check);
    const sent = performance.now();
    const bid = await o.buyer.placeBid({ market: MARKET, maxPrice: PRICE, units: 1, replicas: o.replicas, expiresAt: Date.now() + 120_000, job: o.spec });
    const answered = performance.now();
    jobId = bid.order.id;
    check(jobId);
    await withTimeout(all, 30_000, `the assignment(s) of bid ${jobId} (${i + 1} of ${o.count}, replicas ${o.replicas})`);
    const last = Math.max(...arrivalsOf(jobId).slice(0, o.replicas));
    fromAnswer.push(last - answered);
    fromRequest.push(last - sent);
    for (const a of o.agents) a.clearListeners();
  }
  return { fromAnswer, fromRequest };
}

export async function runDispatchBench(opts: DispatchBenchOptions = {}): Promise<Record<string, number>> {
  const bids = opts.bids ?? 200;
  const warmup = opts.warmup ?? 20;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const outputs = [toWire('y', 'float32', [1, 3], new Uint8Array(new Float32Array([0.25, -0.5, 1]).buffer))];
  const result = { outputs, outputDigest: await tensorsDigest(outputs) };
  const agents: BenchAgent[] = [];
  let stack: Stack | undefined;
  try {
    log('dispatch: starting the stack');
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

    for (let i = 0; i < 2; i++) {
      const agent = await BenchAgent.create(result);
      agents.push(agent);
      const provider = new DougClient({ baseUrl: stack.url, keypair: agent.keypair });
      const ask = await provider.placeAsk({ market: MARKET, price: PRICE, capacity: CAPACITY, expiresAt: Date.now() + 3_600_000 });
      await withTimeout(agent.connect(stack.url, ask.order.id), 15_000, `agent ${i + 1} to be welcomed`);
    }

    const out: Record<string, number> = {};
    const record = (prefix: string, s: { fromAnswer: number[]; fromRequest: number[] }) => {
      const a = [...s.fromAnswer].sort((p, q) => p - q);
      const r = [...s.fromRequest].sort((p, q) => p - q);
      out[`${prefix}_p50_ms`] = round3(percentile(a, 50));
      out[`${prefix}_p99_ms`] = round3(percentile(a, 99));
      out[`${prefix}_samples`] = a.length;
      out[`${prefix}_negative_samples`] = a.filter((v) => v < 0).length;
      out[`${prefix}_from_request_p50_ms`] = round3(percentile(r, 50));
      out[`${prefix}_from_request_p99_ms`] = round3(percentile(r, 99));
    };
    const run = async (replicas: number, prefix: string) => {
      log(`dispatch: ${warmup} warm-up bids, then ${bids} timed, replicas ${replicas}`);
      await timeBids({ buyer, agents, replicas, count: warmup, spec });
      record(prefix, await timeBids({ buyer, agents, replicas, count: bids, spec }));
    };
    await run(1, 'dispatch');
    if (opts.twoReplicas ?? true) await run(2, 'dispatch_2r');
    const errors = agents.flatMap((a) => a.errors);
    out.dispatch_agent_errors = errors.length;
    if (errors.length > 0) log(`dispatch: agents were sent errors, e.g. ${errors[0]}`);
    return out;
  } finally {
    for (const a of agents) a.close();
    await stack?.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const bids = process.argv[2] ? Number(process.argv[2]) : undefined;
  printResult(await runDispatchBench(bids ? { bids } : {}));
}
