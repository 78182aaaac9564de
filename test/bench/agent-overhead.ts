/**
 * Agent overhead benchmark: a bare onnxruntime session.run of the ~1 ms benchmark MLP (batch 1,
 * one thread) against the same run through OnnxRunner.run, which adds wire decode, encode and the
 * output digest. Rounds alternate between the two; rates are medians and the ratio is the median of
 * per-round ratios, so drift on a shared machine hits both alike. runner_wire_path_us times the
 * wire path alone; runner_fixed_cost_us is runner minus bare on a model that costs almost nothing
 * (y = x + 1, same 1024 floats), the noise-free view of the overhead. Prints a table and, last, one JSON line.
 *
 *   node --import tsx test/bench/agent-overhead.ts [roundMs]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { toWire } from '../../durable-objects/contracts/tensors.ts';
import { BENCH_MLP, buildAddModel, buildMlpModel, prng } from '../../gpu-agent/models/build.ts';
import { ModelCache } from '../../gpu-agent/src/exec/model-cache.ts';
import { OnnxRunner } from '../../gpu-agent/src/exec/runner.ts';
import { ortToRaw, rawTensorsDigest, rawToWire, wireToOrt } from '../../gpu-agent/src/exec/wire.ts';

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
  try {
    for (let i = 0; i < WARMUP; i++) {
      await bare();
      await viaRunner();
    }
    const bareRates: number[] = [];
    const runnerRates: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      bareRates.push(await rate(bare, roundMs));
      runnerRates.push(await rate(viaRunner, roundMs));
    }
    const bareRate = median(bareRates);
    const runnerRate = median(runnerRates);
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
    };
  } finally {
    await session.release();
    await runner.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const roundMs = process.argv[2] ? Number(process.argv[2]) : undefined;
  const result = await runAgentOverheadBench(roundMs ? { roundMs } : {});
  const width = Math.max(...Object.keys(result).map((k) => k.length));
  for (const [k, v] of Object.entries(result)) console.log(`${k.padEnd(width)}  ${v.toLocaleString('en-US')}`);
  console.log(JSON.stringify(result));
}
