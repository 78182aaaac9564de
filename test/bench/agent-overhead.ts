/**
 * Agent overhead benchmark: a bare onnxruntime session.run of the ~1 ms benchmark MLP (batch 1,
 * one thread) against the same run through OnnxRunner.run, which adds wire decode, encode and the
 * output digest. Rounds alternate between the two; rates are medians and the ratio is the median of
 * per-round ratios, so drift on a shared machine hits both alike. runner_wire_path_us times the
 * wire path alone; runner_fixed_cost_us is runner minus bare on a model that costs almost nothing
 * (y = x + 1, same 1024 floats), the noise-free view of the overhead.
 *
 * agent_jobs_per_s: the same model through a real Agent (gpu-agent/src/agent.ts, capacity 1, the
 * real OnnxRunner executor over a ModelCache seeded with the model), fed back-to-back assigns over
 * a real loopback WebSocket by a small in-process server speaking the market's side (challenge,
 * hello verified, welcome, an assign on each `ready` while a round runs). One job at a time, so it
 * is sequential like the bare loop; agent rounds alternate with bare rounds and
 * agent_overhead_ratio is the median of per-round agent/bare ratios. agent_noop_loop_us is the same
 * loop with an executor that costs nothing: the protocol's round trip per job at capacity 1. Prints a table and, last, one JSON line.
 *
 *   node --import tsx test/bench/agent-overhead.ts [roundMs]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { WebSocketServer, type WebSocket } from 'ws';
import { AGENT_PROTOCOL_VERSION, helloMessage, type AgentMessage, type AssignMessage, type HelloMessage } from '../../durable-objects/contracts/agent.ts';
import { generateKeypair, verifyText } from '../../durable-objects/contracts/auth.ts';
import { tensorsDigest, toWire, type WireTensor } from '../../durable-objects/contracts/tensors.ts';
import { Agent, runnerExecutor } from '../../gpu-agent/src/agent.ts';
import { BENCH_MLP, buildAddModel, buildMlpModel, prng } from '../../gpu-agent/models/build.ts';
import { ModelCache } from '../../gpu-agent/src/exec/model-cache.ts';
import { OnnxRunner } from '../../gpu-agent/src/exec/runner.ts';
import { ortToRaw, rawTensorsDigest, rawToWire, wireToOrt } from '../../gpu-agent/src/exec/wire.ts';
import { printResult, withTimeout } from './harness.ts';

const ROUNDS = 9;
const WARMUP = 200;

/** Runs `fn` repeatedly for about `ms` milliseconds; returns runs per second. */
async function rate(fn: () => Promise<unknown>, ms: number): Promise<number> {
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 20; i++) await fn();
    n += 20;
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

/**
 * The runner's fixed cost per run in microseconds, measured where the model costs almost nothing:
 * y = x + 1 over the same 1024 floats, runner minus bare, median of alternating rounds.
 */
async function runnerOverheadMicros(cache: ModelCache, runner: OnnxRunner, x: Float32Array, roundMs: number): Promise<number> {
  const { sha256, path } = await cache.put(buildAddModel());
  const session = await ort.InferenceSession.create(path, { executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1 });
  const feeds = { x: new ort.Tensor('float32', x, [x.length]) };
  const request = { modelSha256: sha256, inputs: [toWire('x', 'float32', [x.length], new Uint8Array(x.buffer))] };
  try {
    for (let i = 0; i < 2000; i++) {
      await session.run(feeds);
      await runner.run(request);
    }
    const diffs: number[] = [];
    for (let r = 0; r < 5; r++) {
      const bare = await rate(() => session.run(feeds), roundMs / 2);
      const via = await rate(() => runner.run(request), roundMs / 2);
      diffs.push(1e6 / via - 1e6 / bare);
    }
    return median(diffs);
  } finally {
    await session.release();
  }
}

/** Microseconds the runner's wire path takes for one batch-1 run: decode x, encode y, digest y (as OnnxRunner.run does). */
async function wirePathMicros(x: Float32Array): Promise<number> {
  const input = toWire('x', 'float32', [1, x.length], new Uint8Array(x.buffer));
  const output = new ort.Tensor('float32', new Float32Array(BENCH_MLP.outputSize).fill(0.25), [1, BENCH_MLP.outputSize]);
  const once = async () => {
    wireToOrt(input);
    const y = ortToRaw('y', output);
    if (typeof y !== 'string') {
      rawToWire(y);
      rawTensorsDigest([y]);
    }
  };
  for (let i = 0; i < 500; i++) await once();
  const n = 5000;
  const start = performance.now();
  for (let i = 0; i < n; i++) await once();
  return ((performance.now() - start) * 1000) / n;
}

/**
 * The market's side of the agent protocol on 127.0.0.1, kept lean so that what is measured is the
 * agent: challenge, hello checked with verifyText, welcome, then an assign (pre-serialised but for
 * its ids) on each `ready` with a free slot while a round wants jobs. Results are counted, not parsed.
 */
interface FeedServer {
  url: string;
  /** Resolves once an agent is welcomed and has announced a free slot. */
  connected: Promise<void>;
  /** Feeds assigns back to back for about `ms` ms; returns completed jobs per second. */
  round(ms: number): Promise<number>;
  /** Results whose payload was not a result, or errors the agent sent (should stay 0). */
  problems(): number;
  close(): Promise<void>;
}

async function startFeedServer(o: { market: string; model: { sha256: string; bytes: number }; input: WireTensor }): Promise<FeedServer> {
  const http = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ server: http });
  // Everything but the ids is fixed: splice them into one pre-serialised assign.
  const template: AssignMessage = {
    type: 'assign', jobId: '@J@', replica: 0, leaseId: '@L@', expiresAt: Date.now() + 3_600_000,
    model: { sha256: o.model.sha256, bytes: o.model.bytes, url: `/v1/models/${o.model.sha256}` }, inputs: [o.input], outputs: [],
  };
  const [head, rest] = JSON.stringify(template).split('"@J@"') as [string, string];
  const [mid, tail] = rest.split('"@L@"') as [string, string];
  let seq = 0;
  let socket: WebSocket | null = null;
  let free = 0;
  let problems = 0;
  let round: { until: number; start: number; done: number; finish: (rate: number) => void } | null = null;
  let onConnected!: () => void;
  const connected = new Promise<void>((r) => (onConnected = r));

  const feed = () => {
    if (!socket || !round || free === 0) return;
    free--;
    seq++;
    socket.send(`${head}"job-${seq}"${mid}"lease-${seq}"${tail}`);
  };

  wss.on('connection', (ws) => {
    const nonce = `bench-${Math.random().toString(36).slice(2)}`;
    let welcomed = false;
    ws.on('message', (data) => {
      const text = data.toString();
      if (text.startsWith('{"type":"result"')) {
        if (!round) return;
        round.done++;
        const now = performance.now();
        if (now >= round.until) {
          const r = round;
          round = null;
          r.finish((r.done * 1000) / (now - r.start));
        }
        return;
      }
      let m: AgentMessage;
      try {
        m = JSON.parse(text) as AgentMessage;
      } catch {
        problems++;
        return;
      }
      if (!welcomed && m.type === 'hello') {
        const hello = m as HelloMessage;
        void verifyText(hello.agentKey, hello.signature, helloMessage({ market: o.market, nonce, agentKey: hello.agentKey })).then((ok) => {
          if (!ok || hello.v !== AGENT_PROTOCOL_VERSION) {
            problems++;
            ws.close(4001, 'bad hello');
            return;
          }
          welcomed = true;
          socket = ws;
          ws.send(JSON.stringify({ type: 'welcome', leases: [], heartbeatMs: 5_000 }));
        });
        return;
      }
      if (!welcomed) return;
      if (m.type === 'ready') {
        free = m.slots;
        if (free > 0) onConnected();
        feed();
      } else if (m.type === 'error') {
        problems++;
      }
    });
    ws.send(JSON.stringify({ type: 'challenge', nonce }));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    connected,
    round: (ms) =>
      new Promise<number>((finish) => {
        const start = performance.now();
        round = { until: start + ms, start, done: 0, finish };
        feed();
      }),
    problems: () => problems,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

/** What the hello carries; the loopback server records nothing of it. */
const BENCH_HARDWARE = { cpuModel: 'bench', cores: 1, memoryGb: 1, gpus: [] };
const BENCH_RUNTIME = { onnxruntime: 'bench', executionProvider: 'cpu' as const, platform: process.platform, arch: process.arch, cpuFeatures: [] };

/**
 * Microseconds per job through the same Agent and loopback server when the executor costs nothing
 * (it returns a precomputed result): the protocol's round trip per job at capacity 1 (result and
 * ready out, assign back in), which is what separates agent_jobs_per_s from the bare rate.
 */
async function noopLoopMicros(sha256: string, bytes: number, input: WireTensor, roundMs: number): Promise<number> {
  const outputs = [toWire('y', 'float32', [1, BENCH_MLP.outputSize], new Uint8Array(new Float32Array(BENCH_MLP.outputSize).fill(0.25).buffer))];
  const result = { outputs, outputDigest: await tensorsDigest(outputs), timings: { loadMs: 0, runMs: 0 } };
  const server = await startFeedServer({ market: 'cpu', model: { sha256, bytes }, input });
  const agent = new Agent({
    capacity: 1,
    executor: { run: async () => result },
    log: QUIET,
    connection: { server: server.url, market: 'cpu', keypair: await generateKeypair(), hello: () => ({ askId: 'ask-noop', hardware: BENCH_HARDWARE, runtime: BENCH_RUNTIME }) },
  });
  try {
    agent.start();
    await withTimeout(server.connected, 10_000, 'the no-op agent to connect');
    await withTimeout(server.round(200), 30_000, 'a no-op warm-up round');
    const rates: number[] = [];
    for (let r = 0; r < 3; r++) rates.push(await withTimeout(server.round(roundMs / 2), roundMs + 30_000, 'a no-op round'));
    return 1e6 / median(rates);
  } finally {
    await agent.stop();
    await server.close();
  }
}

const QUIET = { info: () => {}, warn: (line: string) => console.error(`agent: ${line}`) };

export async function runAgentOverheadBench(o: { roundMs?: number } = {}): Promise<Record<string, number>> {
  const roundMs = o.roundMs ?? 600;
  const model = buildMlpModel(BENCH_MLP);
  const rand = prng(1);
  const x = Float32Array.from({ length: BENCH_MLP.inputSize }, () => rand() * 2 - 1);

  const dir = await mkdtemp(join(tmpdir(), 'doug-bench-'));
  const cache = new ModelCache(dir, async () => {
    throw new Error('the benchmark model is put, never fetched');
  });
  const { sha256, path } = await cache.put(model);
  const runner = new OnnxRunner({ executionProvider: 'cpu', cache });
  // The same session options as the runner's, so the two differ only by the wire path.
  const session = await ort.InferenceSession.create(path, {
    executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
  });
  const feeds = { x: new ort.Tensor('float32', x, [1, BENCH_MLP.inputSize]) };
  const request = { modelSha256: sha256, inputs: [toWire('x', 'float32', [1, BENCH_MLP.inputSize], new Uint8Array(x.buffer))] };

  const bare = () => session.run(feeds);
  const viaRunner = () => runner.run(request);
  // The agent: its own runner (own session) over the same seeded cache, as the CLI builds it.
  const agentRunner = new OnnxRunner({ executionProvider: 'cpu', cache });
  const server = await startFeedServer({ market: 'cpu', model: { sha256, bytes: model.byteLength }, input: request.inputs[0]! });
  const agent = new Agent({
    capacity: 1,
    executor: runnerExecutor(agentRunner),
    log: QUIET,
    connection: {
      server: server.url,
      market: 'cpu',
      keypair: await generateKeypair(),
      hello: () => ({ askId: 'ask-bench', hardware: BENCH_HARDWARE, runtime: BENCH_RUNTIME }),
    },
  });
  try {
    agent.start();
    await withTimeout(server.connected, 10_000, 'the agent to connect to the loopback server');
    for (let i = 0; i < WARMUP; i++) {
      await bare();
      await viaRunner();
    }
    await withTimeout(server.round(300), 30_000, 'an agent warm-up round');
    const bareRates: number[] = [];
    const runnerRates: number[] = [];
    const agentRates: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      bareRates.push(await rate(bare, roundMs));
      runnerRates.push(await rate(viaRunner, roundMs));
      agentRates.push(await withTimeout(server.round(roundMs), roundMs + 30_000, 'an agent round'));
    }
    if (server.problems() > 0) throw new Error(`the agent loop saw ${server.problems()} error(s)`);
    const bareRate = median(bareRates);
    const runnerRate = median(runnerRates);
    const agentRate = median(agentRates);
    const loopUs = await noopLoopMicros(sha256, model.byteLength, request.inputs[0]!, roundMs);
    const wireUs = await wirePathMicros(x);
    const fixedUs = await runnerOverheadMicros(cache, runner, x, roundMs);
    return {
      onnx_mlp_params: BENCH_MLP.inputSize * BENCH_MLP.hidden + BENCH_MLP.hidden * BENCH_MLP.outputSize + BENCH_MLP.hidden + BENCH_MLP.outputSize,
      onnx_session_runs_per_s: Math.round(bareRate),
      onnx_runner_runs_per_s: Math.round(runnerRate),
      onnx_session_ms: Math.round((1e6 / bareRate)) / 1000,
      runner_overhead_ms: Math.round((1e6 / runnerRate - 1e6 / bareRate)) / 1000,
      runner_wire_path_us: Math.round(wireUs * 10) / 10,
      runner_fixed_cost_us: Math.round(fixedUs * 10) / 10,
      runner_overhead_ratio: Math.round(median(bareRates.map((b, i) => runnerRates[i]! / b)) * 1000) / 1000,
      agent_jobs_per_s: Math.round(agentRate),
      agent_overhead_ratio: Math.round(median(bareRates.map((b, i) => agentRates[i]! / b)) * 1000) / 1000,
      agent_noop_loop_us: Math.round(loopUs * 10) / 10,
    };
  } finally {
    await agent.stop();
    await server.close();
    await agentRunner.close();
    await session.release();
    await runner.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const roundMs = process.argv[2] ? Number(process.argv[2]) : undefined;
  printResult(await runAgentOverheadBench(roundMs ? { roundMs } : {}));
}
