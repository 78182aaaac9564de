import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { buildMlpModel, modelSha256, prng } from './build.ts';
import { extractStage, StageCutError } from './split.ts';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const SMALL = { inputSize: 48, hidden: 96, outputSize: 24, seed: 42 };

async function run(model: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
  try {
    return (await session.run(feeds)) as Record<string, ort.Tensor>;
  } finally {
    await session.release();
  }
}

const bytesOf = (t: ort.Tensor) => Buffer.from((t.data as Float32Array).buffer, (t.data as Float32Array).byteOffset, (t.data as Float32Array).byteLength);

describe('cutting a model into stages', () => {
  const whole = buildMlpModel(SMALL);
  const first = extractStage(whole, { inputs: ['x'], outputs: ['h2'], types: { h2: FLOAT } });
  const second = extractStage(whole, { inputs: ['h2'], outputs: ['y'], types: { h2: FLOAT } });

  it('gives each stage only its own nodes and initializers, as a model of its own', () => {
    const a = onnx.ModelProto.decode(first);
    const b = onnx.ModelProto.decode(second);
    expect(a.graph?.node?.map((n) => n.opType)).toEqual(['MatMul', 'Add', 'Relu']);
    expect(a.graph?.initializer?.map((t) => t.name)).toEqual(['w1', 'b1']);
    expect(b.graph?.node?.map((n) => n.opType)).toEqual(['MatMul', 'Add']);
    expect(b.graph?.initializer?.map((t) => t.name)).toEqual(['w2', 'b2']);
    expect(b.graph?.input?.map((v) => v.name)).toEqual(['h2']);
    expect(Number(b.opsetImport[0]?.version)).toBe(13);
    // Content addressed like any model, and the same cut twice is the same bytes.
    expect(new Set([modelSha256(whole), modelSha256(first), modelSha256(second)]).size).toBe(3);
    expect(modelSha256(extractStage(whole, { inputs: ['x'], outputs: ['h2'], types: { h2: FLOAT } }))).toBe(modelSha256(first));
  });

  it('chained, computes what the whole model does, bit for bit on CPU', async () => {
    const rand = prng(11);
    const x = new ort.Tensor('float32', Float32Array.from({ length: 3 * SMALL.inputSize }, () => rand() * 4 - 2), [3, SMALL.inputSize]);
    const want = (await run(whole, { x })).y!;
    const h2 = (await run(first, { x })).h2!;
    const got = (await run(second, { h2 })).y!;
    expect(got.dims).toEqual(want.dims);
    expect(bytesOf(got).equals(bytesOf(want))).toBe(true);
    // A cut elsewhere (after the first Add) chains just as exactly.
    const h1 = (await run(extractStage(whole, { inputs: ['x'], outputs: ['h1'], types: { h1: FLOAT } }), { x })).h1!;
    const rest = (await run(extractStage(whole, { inputs: ['h1'], outputs: ['y'], types: { h1: FLOAT } }), { h1 })).y!;
    expect(bytesOf(rest).equals(bytesOf(want))).toBe(true);
  });

  it('refuses a cut whose outputs need a tensor it neither takes nor computes, an input it does not use, or an untyped boundary', () => {
    expect(() => extractStage(whole, { inputs: ['h2'], outputs: ['h1'], types: { h2: FLOAT, h1: FLOAT } })).toThrow(new StageCutError('the stage needs x, which is neither one of its inputs nor computed from them'));
    expect(() => extractStage(whole, { inputs: ['x', 'h2'], outputs: ['y'], types: { h2: FLOAT } })).toThrow('do not depend on its inputs x');
    expect(() => extractStage(whole, { inputs: ['x'], outputs: ['h2'] })).toThrow("the stage's output h2 has no declared type in the model: give it in types");
    expect(() => extractStage(whole, { inputs: ['x'], outputs: [] })).toThrow(StageCutError);
  });
});
