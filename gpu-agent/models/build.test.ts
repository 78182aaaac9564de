import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { buildAddModel, buildIdentityModel, buildMlpModel, mlpReference, mlpWeights, modelSha256, prng } from './build.ts';

const { onnx } = onnxProto;
const SMALL = { inputSize: 48, hidden: 96, outputSize: 24, seed: 42 };

describe('the add model', () => {
  it('computes x + 1 in onnxruntime', async () => {
    const session = await ort.InferenceSession.create(buildAddModel());
    const out = await session.run({ x: new ort.Tensor('float32', new Float32Array([0, 1.5, -3]), [3]) });
    expect(Array.from(out.y!.data as Float32Array)).toEqual([1, 2.5, -2]);
    await session.release();
  });
});

describe('the MLP model', () => {
  it('decodes as an opset-13 model with the five nodes and four initializers', () => {
    const model = onnx.ModelProto.decode(buildMlpModel(SMALL));
    expect(Number(model.opsetImport[0]?.version)).toBe(13);
    expect(model.graph?.node?.map((n) => n.opType)).toEqual(['MatMul', 'Add', 'Relu', 'MatMul', 'Add']);
    expect(model.graph?.initializer?.map((t) => t.name)).toEqual(['w1', 'b1', 'w2', 'b2']);
    expect(model.graph?.input?.[0]?.type?.tensorType?.shape?.dim?.[0]?.dimParam).toBe('batch');
  });

  it('matches the plain-JS reference within 1e-4 for a symbolic batch of 3', async () => {
    const session = await ort.InferenceSession.create(buildMlpModel(SMALL), { intraOpNumThreads: 1 });
    const rand = prng(7);
    const x = Float32Array.from({ length: 3 * SMALL.inputSize }, () => rand() * 4 - 2);
    const out = await session.run({ x: new ort.Tensor('float32', x, [3, SMALL.inputSize]) });
    expect(out.y!.dims).toEqual([3, SMALL.outputSize]);
    const got = out.y!.data as Float32Array;
    const want = mlpReference(mlpWeights(SMALL), x, 3);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
    expect(worst).toBeLessThan(1e-4);
    expect(want.some((v) => v !== 0)).toBe(true);
    await session.release();
  });

  it('takes a fixed batch when asked and rejects another', async () => {
    const session = await ort.InferenceSession.create(buildMlpModel({ ...SMALL, batch: 2 }));
    const ok = await session.run({ x: new ort.Tensor('float32', new Float32Array(2 * SMALL.inputSize), [2, SMALL.inputSize]) });
    expect(ok.y!.dims).toEqual([2, SMALL.outputSize]);
    await expect(session.run({ x: new ort.Tensor('float32', new Float32Array(SMALL.inputSize), [1, SMALL.inputSize]) })).rejects.toThrow();
    await session.release();
  });

  it('is the same bytes for the same seed and different bytes for another', () => {
    const a = modelSha256(buildMlpModel(SMALL));
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(modelSha256(buildMlpModel(SMALL))).toBe(a);
    expect(modelSha256(buildMlpModel({ ...SMALL, seed: 43 }))).not.toBe(a);
  });
});

describe('the identity model', () => {
  it('passes int64 and bool tensors through unchanged', async () => {
    const session = await ort.InferenceSession.create(buildIdentityModel(['int64', 'bool']));
    const out = await session.run({
      in_int64: new ort.Tensor('int64', BigInt64Array.from([-(2n ** 62n), 5n]), [2]),
      in_bool: new ort.Tensor('bool', Uint8Array.from([1, 0, 1]), [3]),
    });
    expect(Array.from(out.out_int64!.data as BigInt64Array)).toEqual([-(2n ** 62n), 5n]);
    expect(Array.from(out.out_bool!.data as Uint8Array)).toEqual([1, 0, 1]);
    await session.release();
  });
});
