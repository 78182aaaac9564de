import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tensorsDigest, toWire, wireValues, type WireTensor } from '../../../durable-objects/contracts/tensors.ts';
import { buildAddModel, buildIdentityModel, buildMlpModel, mlpReference, mlpWeights, modelSha256, prng } from '../../models/build.ts';
import { AgentExecError } from './errors.ts';
import { ModelCache } from './model-cache.ts';
import { OnnxRunner } from './runner.ts';

const MLP = { inputSize: 64, hidden: 128, outputSize: 16, seed: 5 };
const models = new Map<string, Uint8Array>();
for (const bytes of [buildAddModel(), buildMlpModel(MLP), buildIdentityModel(['float64', 'int32', 'int64', 'uint8', 'int8', 'bool'])]) models.set(modelSha256(bytes), bytes);
const [ADD, MLP_SHA, IDENTITY] = [...models.keys()] as [string, string, string];

let dir: string;
let cache: ModelCache;
const fetched: string[] = [];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'doug-runner-'));
  cache = new ModelCache(dir, async (sha) => {
    fetched.push(sha);
    const bytes = models.get(sha);
    if (!bytes) throw new Error('no such model');
    return bytes;
  });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const f32 = (name: string, dims: number[], values: number[]) => toWire(name, 'float32', dims, new Uint8Array(Float32Array.from(values).buffer));
const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

async function runFailure(runner: OnnxRunner, req: Parameters<OnnxRunner['run']>[0]): Promise<AgentExecError> {
  const e = await runner.run(req).then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(AgentExecError);
  return e as AgentExecError;
}

describe('running a model', () => {
  it('computes y = x + 1 and digests the outputs with tensorsDigest', async () => {
    const runner = new OnnxRunner({ executionProvider: 'cpu', cache });
    const result = await runner.run({ modelSha256: ADD, inputs: [f32('x', [3], [1, 2, 3])] });
    expect(result.outputs).toHaveLength(1);
    expect(result.outputs[0]).toMatchObject({ name: 'y', dtype: 'float32', dims: [3] });
    expect(wireValues(result.outputs[0]!)).toEqual([2, 3, 4]);
    expect(result.outputDigest).toBe(await tensorsDigest([f32('y', [3], [2, 3, 4])]));
    expect(result.timings.loadMs).toBeGreaterThanOrEqual(0);
    expect(result.timings.runMs).toBeGreaterThanOrEqual(0);
    await runner.close();
  });

  it('matches the MLP reference within 1e-4', async () => {
    const runner = new OnnxRunner({ executionProvider: 'cpu', cache });
    const rand = prng(11);
    const x = Float32Array.from({ length: 2 * MLP.inputSize }, () => rand() * 2 - 1);
    const result = await runner.run({ modelSha256: MLP_SHA, inputs: [toWire('x', 'float32', [2, MLP.inputSize], bytesOf(x))] });
    expect(result.outputs[0]?.dims).toEqual([2, MLP.outputSize]);
    const got = wireValues(result.outputs[0]!);
    const want = mlpReference(mlpWeights(MLP), x, 2);
    expect(Math.max(...got.map((g, i) => Math.abs(g - want[i]!)))).toBeLessThan(1e-4);
    await runner.close();
  });

  it('passes every wire dtype through onnxruntime and back unchanged', async () => {
    const runner = new OnnxRunner({ executionProvider: 'cpu', cache });
    const inputs: WireTensor[] = [
      toWire('in_float64', 'float64', [2], bytesOf(Float64Array.from([Math.E, -0.5]))),
      toWire('in_int32', 'int32', [3], bytesOf(Int32Array.from([-1, 0, 2 ** 31 - 1]))),
      toWire('in_int64', 'int64', [2], bytesOf(BigInt64Array.from([-(2n ** 63n), 2n ** 63n - 1n]))),
      toWire('in_uint8', 'uint8', [2], Uint8Array.from([0, 255])),
      toWire('in_int8', 'int8', [2], bytesOf(Int8Array.from([-128, 127]))),
      toWire('in_bool', 'bool', [3], Uint8Array.from([1, 0, 1])),
    ];
    const result = await runner.run({ modelSha256: IDENTITY, inputs });
    expect(result.outputs.map((o) => ({ ...o, name: o.name.replace('out_', 'in_') }))).toEqual(inputs);
    await runner.close();
  });

  it('returns only the asked outputs, in the asked order', async () => {
    const runner = new OnnxRunner({ executionProvider: 'cpu', cache });
    const inputs: WireTensor[] = [
      toWire('in_float64', 'float64', [1], bytesOf(Float64Array.from([1]))),
      toWire('in_int32', 'int32', [1], bytesOf(Int32Array.from([1]))),
      toWire('in_int64', 'int64', [1], bytesOf(BigInt64Array.from([1n]))),
      toWire('in_uint8', 'uint8', [1], Uint8Array.from([1])),
      toWire('in_int8', 'int8', [1], Uint8Array.from([1])),
      toWire('in_bool', 'bool', [1], Uint8Array.from([1])),
    ];
    const result = await runner.run({ modelSha256: IDENTITY, inputs, outputs: ['out_bool', 'out_int32'] });
    expect(result.outputs.map((o) => o.name)).toEqual(['out_bool', 'out_int32']);
    expect((await runner.run({ modelSha256: IDENTITY, inputs, outputs: [] })).outputs).toHaveLength(6);
    await runner.close();
  });
});

describe('bit-exactness on the CPU', () => {
  it('gives the same digest for two runs, and for two runners', async () => {
    const rand = prng(3);
    const x = Float32Array.from({ length: 4 * MLP.inputSize }, () => rand() * 10 - 5);
    const inputs = [toWire('x', 'float32', [4, MLP.inputSize], bytesOf(x))];
    const a = new OnnxRunner({ executionProvider: 'cpu', cache });
    const b = new OnnxRunner({ executionProvider: 'cpu', cache, intraOpNumThreads: 2 });
    const first = await a.run({ modelSha256: MLP_SHA, inputs });
    const second = await a.run({ modelSha256: MLP_SHA, inputs });
    const other = await b.run({ modelSha256: MLP_SHA, inputs });
    expect(second.outputDigest).toBe(first.outputDigest);
    expect(other.outputDigest).toBe(first.outputDigest);
    expect(second.outputs).toEqual(first.outputs);
    const changed = x.slice();
    changed[0]! += 1;
    const third = await a.run({ modelSha256: MLP_SHA, inputs: [toWire('x', 'float32', [4, MLP.inputSize], bytesOf(changed))] });
    expect(third.outputDigest).not.toBe(first.outputDigest);
    await Promise.all([a.close(), b.close()]);
  });
});

describe('bad requests', () => {
  let runner: OnnxRunner;
  beforeAll(() => {
    runner = new OnnxRunner({ executionProvider: 'cpu', cache });
  });
  afterAll(() => runner.close());

  it('names an unknown input', async () => {
    const e = await runFailure(runner, { modelSha256: ADD, inputs: [f32('x', [1], [0]), f32('z', [1], [0])] });
    expect(e.code).toBe('AGENT__RUN_FAILED');
    expect(e.message).toContain('unknown input "z"; the model takes "x"');
  });

  it('names a missing input', async () => {
    const e = await runFailure(runner, { modelSha256: ADD, inputs: [] });
    expect(e.message).toContain('missing input "x"');
  });

  it('names a dtype the model does not take', async () => {
    const e = await runFailure(runner, { modelSha256: ADD, inputs: [toWire('x', 'float64', [1], new Uint8Array(8))] });
    expect(e.message).toContain('input "x" is float64; the model takes float32');
  });

  it('names a malformed tensor', async () => {
    const e = await runFailure(runner, { modelSha256: ADD, inputs: [{ ...f32('x', [2], [1, 2]), dims: [3] }] });
    expect(e.message).toContain('input "x": data holds 8 bytes');
  });

  it('names an unknown output', async () => {
    const e = await runFailure(runner, { modelSha256: ADD, inputs: [f32('x', [1], [0])], outputs: ['nope'] });
    expect(e.message).toContain('unknown output "nope"; the model gives "y"');
  });

  it('reports a shape onnxruntime rejects as AGENT__RUN_FAILED', async () => {
    const e = await runFailure(runner, { modelSha256: MLP_SHA, inputs: [f32('x', [1, 3], [1, 2, 3])] });
    expect(e.code).toBe('AGENT__RUN_FAILED');
    expect(e.message).toContain('onnxruntime:');
  });

  it('passes the cache refusal through with its code', async () => {
    const e = await runFailure(runner, { modelSha256: 'a'.repeat(64), inputs: [] });
    expect(e.code).toBe('AGENT__MODEL_UNAVAILABLE');
  });

  it('reports bytes that are not a model as AGENT__RUN_FAILED and tries again next time', async () => {
    const junk = new Uint8Array([1, 2, 3, 4]);
    const junkCache = new ModelCache(join(dir, 'junk'), async () => junk);
    const r = new OnnxRunner({ executionProvider: 'cpu', cache: junkCache });
    const e = await runFailure(r, { modelSha256: modelSha256(junk), inputs: [] });
    expect(e.message).toContain('could not be loaded');
    expect(r.loadedModels()).toEqual([]);
  });
});

describe('the session cache', () => {
  it('loads a model once and keeps the most recent few', async () => {
    const runner = new OnnxRunner({ executionProvider: 'cpu', cache, maxSessions: 2 });
    const add = { modelSha256: ADD, inputs: [f32('x', [1], [1])] };
    const mlp = { modelSha256: MLP_SHA, inputs: [f32('x', [1, MLP.inputSize], new Array(MLP.inputSize).fill(0))] };
    await runner.run(add);
    await runner.run(mlp);
    await runner.run(add);
    expect(runner.loadedModels()).toEqual([MLP_SHA, ADD]);
    const identityInputs: WireTensor[] = ['float64', 'int32', 'int64', 'uint8', 'int8', 'bool'].map((d) => {
      const size = d === 'float64' || d === 'int64' ? 8 : d === 'int32' ? 4 : 1;
      return toWire(`in_${d}`, d as WireTensor['dtype'], [1], new Uint8Array(size));
    });
    await runner.run({ modelSha256: IDENTITY, inputs: identityInputs });
    expect(runner.loadedModels()).toEqual([ADD, IDENTITY]);
    // the evicted MLP loads again and still computes
    expect((await runner.run(mlp)).outputs[0]?.dims).toEqual([1, MLP.outputSize]);
    // sessions come and go; the disk cache fetched each model once across every runner in this file
    expect(fetched.filter((sha) => sha === MLP_SHA)).toEqual([MLP_SHA]);
    await runner.close();
  });

  it('runs concurrent requests for one model on one session, each with its own result', async () => {
    const runner = new OnnxRunner({ executionProvider: 'cpu', cache, maxSessions: 1 });
    const results = await Promise.all([1, 2, 3, 4].map((v) => runner.run({ modelSha256: ADD, inputs: [f32('x', [1], [v])] })));
    expect(results.map((r) => wireValues(r.outputs[0]!)[0])).toEqual([2, 3, 4, 5]);
    expect(runner.loadedModels()).toEqual([ADD]);
    await runner.close();
  });

  it('finishes a run whose session is evicted meanwhile', async () => {
    const runner = new OnnxRunner({ executionProvider: 'cpu', cache, maxSessions: 1 });
    const results = await Promise.all([
      runner.run({ modelSha256: ADD, inputs: [f32('x', [1], [1])] }),
      runner.run({ modelSha256: MLP_SHA, inputs: [f32('x', [1, MLP.inputSize], new Array(MLP.inputSize).fill(0))] }),
    ]);
    expect(wireValues(results[0].outputs[0]!)).toEqual([2]);
    expect(runner.loadedModels()).toEqual([MLP_SHA]);
    await runner.close();
  });
});
