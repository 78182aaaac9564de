/**
 * Agent overhead benchmark: a bare onnxruntime session.run of the ~1 ms benchmark MLP (batch 1,
 * one thread) against the same run through OnnxRunner.run, which adds wire decode, encode and the
 * output digest. Rounds alternate between the two; rates are medians and the ratio is the median of
 * per-round ratios, so drift on a shared machine hits both alike. runner_wire_path_us times the
 * wire path alone; runner_fixed_cost_us is runner minus bare on a model that costs almost nothing
 * (y = x + 1, same 1024 floats), the noise-free view of the overhead.
 *
 * agent_jobs_per_s: the same model through a real Agent (gpu-agent/src/agent.ts, capacity 1, the
 * real OnnxRunner executor over a ModelCache seeded with the model), fed back-to-back over a real
 * loopback WebSocket by an in-process server speaking the market's side of the protocol with the
 * gateway's parser and the dispatch decider (startFeedServer). The agent announces a prefetch
 * window of BENCH_PREFETCH (agent_prefetch), so the next assign is already there when a run ends;
 * one job runs at a time, so it is sequential like the bare loop. agent_overhead_ratio is the median
 * of per-round agent/bare ratios. agent_window0_* is a second agent in the same run that announces
 * no window (as agents did before it existed): a round trip per job. agent_noop_loop_us (and its
 * window-0 twin) is the same loop with an executor that costs nothing: the protocol's cost per job
 * at capacity 1. agent_gap_us (and its window-0 twin) is the mean time the agent's slot stands
 * idle between one run's end and the next run's start, which is what the window removes;
 * agent_run_ms is onnxruntime's own mean time per run inside the agent, which grows when the work of
 * both ends (on this one thread, on a shared 2-core machine) overlaps the run instead of waiting
 * between runs. Prints a table and, last, one JSON line.
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
import { AGENT_PROTOCOL_VERSION, fingerprintOf, helloMessage, type AssignMessage } from '../../durable-objects/contracts/agent.ts';
import { parseAgentMessage } from '../../durable-objects/contracts/agent-messages.ts';
import { generateKeypair, verifyText } from '../../durable-objects/contracts/auth.ts';
import { tensorsBytes, tensorsDigest, toWire, type WireTensor } from '../../durable-objects/contracts/tensors.ts';
import { dispatchDecider, openings, type DispatchCommand, type DispatchEvent } from '../../durable-objects/domain/dispatch/index.ts';
import type { Result } from '../../durable-objects/domain/result.ts';
import { Agent, runnerExecutor, type Executor } from '../../gpu-agent/src/agent.ts';
import { BENCH_MLP, buildAddModel, buildMlpModel, prng } from '../../gpu-agent/models/build.ts';
import { ModelCache } from '../../gpu-agent/src/exec/model-cache.ts';
import { OnnxRunner } from '../../gpu-agent/src/exec/runner.ts';
import { ortToRaw, rawTensorsDigest, rawToWire, wireToOrt } from '../../gpu-agent/src/exec/wire.ts';
import { median, printResult, withTimeout } from './harness.ts';

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

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

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
 * The market's side of the agent protocol on 127.0.0.1, as the gateway speaks it: frames parsed with
 * the gateway's parser (parseAgentMessage), the hello checked with verifyText, and every decision
 * (slots and prefetch window announced, which socket gets which work and whether into a free slot or
 * the window, starts, results, heartbeats) made by the dispatch decider itself. Work is queued for
 * the round's ask while the round wants jobs; assigns are pre-serialised but for their ids. What the
 * gateway adds beyond this (the job's StartLease, storage) is the market's cost, not the agent's.
 */
interface FeedServer {
  url: string;
  /** Resolves once an agent serving `askId` is welcomed and has announced a free slot. */
  connected(askId: string): Promise<void>;
  /** Feeds the agent of `askId` for about `ms` ms; returns completed jobs per second (after its held work is done). */
  round(ms: number, askId: string): Promise<number>;
  /** Refusals the server sent, or errors the agent sent (should stay 0). */
  problems(): number;
  /** The first of them, in words. */
  firstProblem(): string;
  close(): Promise<void>;
}

async function startFeedServer(o: { market: string; model: { sha256: string; bytes: number }; input: WireTensor }): Promise<FeedServer> {
  const http = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ server: http });
  // Everything but the ids is fixed: splice them into one pre-serialised assign, with or without prefetch.
  const template = (prefetch: boolean) => {
    const assign: AssignMessage = {
      type: 'assign', jobId: '@J@', replica: 0, leaseId: '@L@', expiresAt: Date.now() + 3_600_000,
      model: { sha256: o.model.sha256, bytes: o.model.bytes, url: `/v1/models/${o.model.sha256}` }, inputs: [o.input], outputs: [],
      ...(prefetch ? { prefetch: true as const } : {}),
    };
    const [head, rest] = JSON.stringify(assign).split('"@J@"') as [string, string];
    const [mid, tail] = rest.split('"@L@"') as [string, string];
    return (jobId: string, leaseId: string) => `${head}"${jobId}"${mid}"${leaseId}"${tail}`;
  };
  const toSlot = template(false);
  const toWindow = template(true);
  const state = dispatchDecider.initialState();
  const meta = (now: number) => ({ commandId: 'bench', actor: 'system:dispatch', now });
  const decide = (command: DispatchCommand): Result<DispatchEvent[]> => {
    const r = dispatchDecider.decide(state, command, meta(Date.now()));
    if (r.ok) for (const e of r.value) dispatchDecider.evolve(state, e, meta(0));
    return r;
  };
  const sockets = new Map<string, WebSocket>();
  let seq = 0;
  let problems = 0;
  let firstProblem = '';
  const problem = (what: string) => {
    if (problems++ === 0) firstProblem = what;
  };
  let round: { askId: string; until: number; start: number; done: number; rate: number | null; finish: (rate: number) => void } | null = null;
  const waiters: { askId: string; resolve: () => void }[] = [];

  /** Queues work for the round's ask up to what its agents can take, then lets the decider assign it. */
  const pump = () => {
    if (round && round.rate === null) {
      let open = 0;
      for (const [id, n] of openings(state)) if (state.agents[id]?.askId === round.askId) open += n.slots + n.room;
      const queued = Object.keys(state.queue).length;
      const work = Array.from({ length: Math.max(0, open - queued) }, () => ({ jobId: `job-${++seq}`, replica: 0, askId: round!.askId, provider: 'bench' }));
      if (work.length > 0) decide({ type: 'QueueWork', work });
    }
    if (Object.keys(state.queue).length === 0) return;
    const r = decide({ type: 'AssignWork', leaseIds: Object.keys(state.queue).map(() => `lease-${++seq}`) });
    if (!r.ok) return;
    for (const e of r.value) if (e.type === 'WorkAssigned') sockets.get(e.socketId)?.send((e.prefetched ? toWindow : toSlot)(e.jobId, e.leaseId));
  };

  /** The round ends at its first result past its time, and resolves once the agent holds nothing more (prefetched work ran out). */
  const settle = () => {
    if (!round || round.rate === null) return;
    if (Object.values(state.assignments).some((a) => a.askId === round!.askId)) return;
    const r = round;
    round = null;
    r.finish(r.rate!);
  };

  wss.on('connection', (ws) => {
    const nonce = `bench-${Math.random().toString(36).slice(2)}`;
    const socketId = `socket-${++seq}`;
    const refuse = (code: string, message: string, ref?: string) => {
      problem(`refused ${ref ?? ''}: ${code} ${message}`);
      ws.send(JSON.stringify({ type: 'error', code, message, ...(ref ? { ref } : {}) }));
    };
    ws.on('close', () => {
      sockets.delete(socketId);
      if (state.agents[socketId]) decide({ type: 'CloseSocket', socketId });
    });
    ws.on('message', (data) => {
      const parsed = parseAgentMessage(data.toString());
      if (!parsed.ok) return refuse(parsed.code, parsed.message, parsed.ref);
      const m = parsed.message;
      if (m.type === 'hello') {
        void verifyText(m.agentKey, m.signature, helloMessage({ market: o.market, nonce, agentKey: m.agentKey })).then((ok) => {
          if (!ok || m.v !== AGENT_PROTOCOL_VERSION) {
            refuse('AUTH__SIGNATURE_INVALID', 'bad hello', 'hello');
            ws.close(4001, 'bad hello');
            return;
          }
          decide({ type: 'AcceptAgent', socketId, askId: m.askId, agentKey: m.agentKey, provider: 'bench', fingerprint: fingerprintOf(m.runtime) });
          sockets.set(socketId, ws);
          ws.send(JSON.stringify({ type: 'welcome', leases: [], heartbeatMs: 5_000 }));
        });
        return;
      }
      if (!state.agents[socketId]) return refuse('AGENT__NOT_AUTHENTICATED', 'send hello first', m.type);
      let r: Result<DispatchEvent[]>;
      switch (m.type) {
        case 'ready':
          r = decide({ type: 'AnnounceReady', socketId, slots: m.slots, ...(m.prefetch !== undefined ? { prefetch: m.prefetch } : {}) });
          if (r.ok && m.slots > 0) {
            const askId = state.agents[socketId]!.askId;
            for (const w of waiters.filter((x) => x.askId === askId)) w.resolve();
          }
          break;
        case 'start':
          r = decide({ type: 'StartWork', socketId, leaseId: m.leaseId });
          break;
        case 'heartbeat':
          r = decide({ type: 'RecordHeartbeat', socketId, leases: m.leases });
          break;
        case 'result': {
          r = decide({ type: 'AcceptResult', socketId, jobId: m.jobId, leaseId: m.leaseId, bytes: tensorsBytes(m.outputs) });
          if (r.ok && round && round.rate === null) {
            round.done++;
            const now = performance.now();
            if (now >= round.until) round.rate = (round.done * 1000) / (now - round.start);
          }
          break;
        }
        case 'error':
          problem(`agent error ${m.code}: ${m.message}`);
          r = decide({ type: 'ReportError', socketId, leaseId: m.leaseId });
          break;
      }
      if (!r.ok) return refuse(r.error.code, r.error.message, m.type);
      pump();
      settle();
    });
    ws.send(JSON.stringify({ type: 'challenge', nonce }));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    connected: (askId) =>
      new Promise<void>((resolve) => {
        const ready = Object.values(state.agents).some((a) => a.askId === askId && a.free > 0);
        if (ready) resolve();
        else waiters.push({ askId, resolve });
      }),
    round: (ms, askId) =>
      new Promise<number>((finish) => {
        const start = performance.now();
        round = { askId, until: start + ms, start, done: 0, rate: null, finish };
        pump();
      }),
    problems: () => problems,
    firstProblem: () => firstProblem,
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

/** When each run of an agent's executor ended, and the medians' samples. */
interface Timing {
  lastEnd: number;
  /** The slot standing idle: one run's end to the next run's start (ms). */
  gapsMs: number[];
  /** onnxruntime's own time per run, as the runner reports it (ms). */
  runsMs: number[];
}

/** The executor, timing the slot's idle gaps between runs and the runs themselves. */
function timed(inner: Executor, t: Timing): Executor {
  return {
    async run(assign, o) {
      const start = performance.now();
      if (t.lastEnd > 0) t.gapsMs.push(start - t.lastEnd);
      const r = await inner.run(assign, o);
      t.lastEnd = performance.now();
      t.runsMs.push(r.timings.runMs);
      return r;
    },
  };
}

/** The prefetch window the benchmark's agent announces (work held beyond its one slot). */
const BENCH_PREFETCH = 2;

/**
 * Microseconds per job through the same Agent and loopback server when the executor costs nothing
 * (it returns a precomputed result): the protocol's cost per job at capacity 1. With window 0 it is
 * the round trip (result and ready out, assign back in); with a window the next assign is already
 * there, and what is left is the work of both ends on this one thread.
 */
async function noopLoopMicros(o: { sha256: string; bytes: number; input: WireTensor; roundMs: number; prefetch: number }): Promise<number> {
  const outputs = [toWire('y', 'float32', [1, BENCH_MLP.outputSize], new Uint8Array(new Float32Array(BENCH_MLP.outputSize).fill(0.25).buffer))];
  const result = { outputs, outputDigest: await tensorsDigest(outputs), timings: { loadMs: 0, runMs: 0 } };
  const server = await startFeedServer({ market: 'cpu', model: { sha256: o.sha256, bytes: o.bytes }, input: o.input });
  const agent = new Agent({
    capacity: 1,
    prefetch: o.prefetch,
    executor: { run: async () => result },
    log: QUIET,
    connection: { server: server.url, market: 'cpu', keypair: await generateKeypair(), hello: () => ({ askId: 'ask-noop', hardware: BENCH_HARDWARE, runtime: BENCH_RUNTIME }) },
  });
  try {
    agent.start();
    await withTimeout(server.connected('ask-noop'), 10_000, 'the no-op agent to connect');
    await withTimeout(server.round(200, 'ask-noop'), 30_000, 'a no-op warm-up round');
    const rates: number[] = [];
    for (let r = 0; r < 3; r++) rates.push(await withTimeout(server.round(o.roundMs / 2, 'ask-noop'), o.roundMs + 30_000, 'a no-op round'));
    if (server.problems() > 0) throw new Error(`the no-op loop saw ${server.problems()} error(s), the first: ${server.firstProblem()}`);
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
  // Two agents, as the CLI builds them (each its own runner, own session, over the same seeded cache),
  // each serving an ask of its own on one server: one announces the prefetch window, one (as an
  // older agent) announces none. Their rounds alternate with the bare rounds.
  const server = await startFeedServer({ market: 'cpu', model: { sha256, bytes: model.byteLength }, input: request.inputs[0]! });
  const runners: OnnxRunner[] = [];
  const agents = await Promise.all(
    [BENCH_PREFETCH, 0].map(async (prefetch) => {
      const runner = new OnnxRunner({ executionProvider: 'cpu', cache });
      runners.push(runner);
      const askId = `ask-window-${prefetch}`;
      const timing: Timing = { lastEnd: 0, gapsMs: [], runsMs: [] };
      const agent = new Agent({
        capacity: 1,
        prefetch,
        executor: timed(runnerExecutor(runner), timing),
        log: QUIET,
        connection: { server: server.url, market: 'cpu', keypair: await generateKeypair(), hello: () => ({ askId, hardware: BENCH_HARDWARE, runtime: BENCH_RUNTIME }) },
      });
      return { agent, askId, timing };
    }),
  );
  const [windowed, unwindowed] = agents as [(typeof agents)[0], (typeof agents)[0]];
  try {
    for (const a of agents) {
      a.agent.start();
      await withTimeout(server.connected(a.askId), 10_000, 'the agent to connect to the loopback server');
    }
    for (let i = 0; i < WARMUP; i++) {
      await bare();
      await viaRunner();
    }
    for (const a of agents) await withTimeout(server.round(300, a.askId), 30_000, 'an agent warm-up round');
    for (const a of agents) Object.assign(a.timing, { lastEnd: 0, gapsMs: [], runsMs: [] });
    const bareRates: number[] = [];
    const runnerRates: number[] = [];
    const agentRates: number[] = [];
    const agent0Rates: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      bareRates.push(await rate(bare, roundMs));
      runnerRates.push(await rate(viaRunner, roundMs));
      agentRates.push(await withTimeout(server.round(roundMs, windowed.askId), roundMs + 30_000, 'an agent round'));
      agent0Rates.push(await withTimeout(server.round(roundMs, unwindowed.askId), roundMs + 30_000, 'an agent round (window 0)'));
      for (const a of agents) a.timing.lastEnd = 0; // the pause between rounds is no gap
    }
    if (server.problems() > 0) throw new Error(`the agent loop saw ${server.problems()} error(s), the first: ${server.firstProblem()}`);
    const bareRate = median(bareRates);
    const runnerRate = median(runnerRates);
    const agentRate = median(agentRates);
    const agent0Rate = median(agent0Rates);
    const input = request.inputs[0]!;
    const loopUs = await noopLoopMicros({ sha256, bytes: model.byteLength, input, roundMs, prefetch: BENCH_PREFETCH });
    const loop0Us = await noopLoopMicros({ sha256, bytes: model.byteLength, input, roundMs, prefetch: 0 });
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
      agent_prefetch: BENCH_PREFETCH,
      agent_jobs_per_s: Math.round(agentRate),
      agent_overhead_ratio: Math.round(median(bareRates.map((b, i) => agentRates[i]! / b)) * 1000) / 1000,
      agent_noop_loop_us: Math.round(loopUs * 10) / 10,
      agent_window0_jobs_per_s: Math.round(agent0Rate),
      agent_window0_overhead_ratio: Math.round(median(bareRates.map((b, i) => agent0Rates[i]! / b)) * 1000) / 1000,
      agent_window0_noop_loop_us: Math.round(loop0Us * 10) / 10,
      agent_gap_us: Math.round(mean(windowed.timing.gapsMs) * 1000),
      agent_window0_gap_us: Math.round(mean(unwindowed.timing.gapsMs) * 1000),
      agent_run_ms: Math.round(mean(windowed.timing.runsMs) * 1000) / 1000,
      agent_window0_run_ms: Math.round(mean(unwindowed.timing.runsMs) * 1000) / 1000,
    };
  } finally {
    for (const a of agents) await a.agent.stop();
    await server.close();
    for (const r of runners) await r.close();
    await session.release();
    await runner.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const roundMs = process.argv[2] ? Number(process.argv[2]) : undefined;
  printResult(await runAgentOverheadBench(roundMs ? { roundMs } : {}));
}
