/**
 * Agent overhead benchmark: a bare onnxruntime session.run of the ~1 ms benchmark MLP (batch 1,
 * one thread) against the same run through OnnxRunner.run, which adds wire decode, encode and the
 * output digest. Rounds alternate between the two; rates are medians and the ratio is the median of
 * per-round ratios, so drift on a shared machine hits both alike. runner_wire_path_us times the
 * wire path alone; runner_fixed_cost_us is runner minus bare on a model that costs almost nothing
 * (y = x + 1, same 1024 floats), the noise-free view of the overhead.
 *
 * agent_jobs_per_s: the same model through a real Agent (gpu-agent/src/agent.ts, capacity 1) as the
 * CLI builds it: runs in a RunnerPool thread over a ModelCache seeded with the model, fed
 * back-to-back over a real loopback WebSocket by a server speaking the market's side of the protocol
 * with the gateway's parser and the dispatch decider, in a thread of its own (agent-feed.ts: the
 * market runs elsewhere, and its work is not the agent's). The agent announces a prefetch window of
 * BENCH_PREFETCH (agent_prefetch) and hands prefetched work to the pool's queue, so the next run
 * starts in the thread the moment one ends; one job runs at a time, so it is sequential like the
 * bare loop. agent_overhead_ratio is the median of per-round agent/bare ratios. agent_window0_* is a
 * second agent in the same run that announces no window (as agents did before it existed): a round
 * trip per job. agent_noop_loop_us (and its window-0 twin) is the same loop with an executor that
 * costs nothing: the protocol's cost per job at capacity 1. agent_gap_us (and its window-0 twin) is
 * the mean time, as the agent's thread sees it, between one run's end and the next one's start;
 * agent_run_ms is onnxruntime's own mean time per run inside the agent's runner thread (it grows
 * when the agent's and the server's threads work at the same time on this 2-core machine). Prints a
 * table and, last, one JSON line.
 *
 *   node --import tsx test/bench/agent-overhead.ts [roundMs]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { generateKeypair } from '../../durable-objects/contracts/auth.ts';
import { tensorsDigest, toWire, type WireTensor } from '../../durable-objects/contracts/tensors.ts';
import { Agent, runnerExecutor, type Executor } from '../../gpu-agent/src/agent.ts';
import { BENCH_MLP, buildAddModel, buildMlpModel, prng } from '../../gpu-agent/models/build.ts';
import { ModelCache } from '../../gpu-agent/src/exec/model-cache.ts';
import { OnnxRunner } from '../../gpu-agent/src/exec/runner.ts';
import { RunnerPool } from '../../gpu-agent/src/exec/runner-pool.ts';
import { ortToRaw, rawTensorsDigest, rawToWire, wireToOrt } from '../../gpu-agent/src/exec/wire.ts';
import { startFeedThread } from './agent-feed.ts';
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

/** The executor, timing the slot's idle gaps between runs (one run's end to the next one's start) and the runs themselves. */
function timed(inner: Executor, t: Timing): Executor {
  return {
    ...(inner.queue ? { queue: inner.queue } : {}),
    async run(assign, o) {
      const started = () => {
        if (t.lastEnd > 0) t.gapsMs.push(performance.now() - t.lastEnd);
      };
      if (!o.onStart) started();
      const r = await inner.run(assign, {
        signal: o.signal,
        ...(o.onStart
          ? {
              onStart: () => {
                started();
                o.onStart!();
              },
            }
          : {}),
      });
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
  const server = await startFeedThread({ market: 'cpu', model: { sha256: o.sha256, bytes: o.bytes }, input: o.input });
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
    const problems = await server.problems();
    if (problems.count > 0) throw new Error(`the no-op loop saw ${problems.count} error(s), the first: ${problems.first}`);
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
  const server = await startFeedThread({ market: 'cpu', model: { sha256, bytes: model.byteLength }, input: request.inputs[0]! });
  const runners: RunnerPool[] = [];
  const agents = await Promise.all(
    [BENCH_PREFETCH, 0].map(async (prefetch) => {
      const runner = new RunnerPool({ executionProvider: 'cpu', cache });
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
    const problems = await server.problems();
    if (problems.count > 0) throw new Error(`the agent loop saw ${problems.count} error(s), the first: ${problems.first}`);
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
