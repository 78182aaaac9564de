import { describe, expect, it } from 'vitest';
import type { ModelInfo } from '../contracts/onnx-info.ts';
import { toWire, type TensorDType, type WireTensor } from '../contracts/tensors.ts';
import { MODEL_ERRORS, modelInputsFit, notOnnx } from './model-fit.ts';

/** The MLP's interface: x [batch, 16] float32. */
const MLP: Pick<ModelInfo, 'inputs'> = { inputs: [{ name: 'x', dtype: 'float32', dims: ['batch', 16] }] };
/** Two inputs, one an initializer listed as an input (optional), one with an open dim. */
const TWO: Pick<ModelInfo, 'inputs'> = {
  inputs: [
    { name: 'ids', dtype: 'int64', dims: [1, null] },
    { name: 'mask', dtype: 'bool', dims: [1, 'seq'] },
    { name: 'w', dtype: 'float32', dims: [4], optional: true },
  ],
};

const BYTES: Record<TensorDType, number> = { float32: 4, float64: 8, int32: 4, int64: 8, uint8: 1, int8: 1, bool: 1 };
/** A tensor whose data holds exactly dims × dtype bytes (or `bytes` when given). */
const tensor = (name: string, dtype: TensorDType, dims: number[], bytes = dims.reduce((a, b) => a * b, 1) * BYTES[dtype]): WireTensor => toWire(name, dtype, dims, new Uint8Array(bytes));

const seen = new Set<string>();
function fit(info: Pick<ModelInfo, 'inputs'>, tensors: WireTensor[]) {
  const error = modelInputsFit(info, tensors);
  if (error) seen.add(error.code);
  return error;
}

describe('tensors that fit', () => {
  it('take any size at a symbolic or open dim, and fixed sizes exactly', () => {
    for (const batch of [0, 1, 7]) expect(fit(MLP, [tensor('x', 'float32', [batch, 16])])).toBeNull();
    for (const len of [1, 9]) expect(fit(TWO, [tensor('ids', 'int64', [1, len]), tensor('mask', 'bool', [1, 3])])).toBeNull();
  });

  it('may leave out an initializer listed as an input, or override it with the right shape', () => {
    const required = [tensor('ids', 'int64', [1, 2]), tensor('mask', 'bool', [1, 2])];
    expect(fit(TWO, required)).toBeNull();
    expect(fit(TWO, [...required, tensor('w', 'float32', [4])])).toBeNull();
  });

  it('take any rank when the model gives no shape, in any order', () => {
    const open: Pick<ModelInfo, 'inputs'> = { inputs: [{ name: 'a', dtype: 'uint8', dims: null }, { name: 'b', dtype: 'int8', dims: [] }] };
    expect(fit(open, [tensor('b', 'int8', []), tensor('a', 'uint8', [2, 3, 4])])).toBeNull();
    expect(fit(open, [tensor('a', 'uint8', []), tensor('b', 'int8', [])])).toBeNull();
  });
});

describe('tensors that do not fit', () => {
  it('name an input the model does not take (before any missing one): MODEL__INPUT_UNKNOWN with what it takes', () => {
    const typo = fit(MLP, [tensor('X', 'float32', [1, 16])]);
    expect(typo).toEqual({
      code: 'MODEL__INPUT_UNKNOWN',
      message: 'the model has no input named X; it takes x (float32 [batch, 16])',
      context: { name: 'X', inputs: 'x (float32 [batch, 16])', expected: [{ name: 'x', dtype: 'float32', dims: ['batch', 16] }], sent: { name: 'X', dtype: 'float32', dims: [1, 16] } },
    });
    // An extra tensor beside the right ones is refused too (ignoring it would hide a typo in a model with optional inputs).
    expect(fit(MLP, [tensor('x', 'float32', [1, 16]), tensor('y', 'float32', [1])])?.code).toBe('MODEL__INPUT_UNKNOWN');
    expect(fit({ inputs: [] }, [tensor('x', 'float32', [1])])?.message).toBe('the model has no input named x; it takes no inputs');
  });

  it('leave out a required input: MODEL__INPUT_MISSING naming it, its dtype and shape', () => {
    const missing = fit(TWO, [tensor('ids', 'int64', [1, 2])]);
    expect(missing).toEqual({
      code: 'MODEL__INPUT_MISSING',
      message: 'the model needs input mask (bool [1, seq]), which was not sent',
      context: { name: 'mask', dtype: 'bool', shape: '[1, seq]', expected: { name: 'mask', dtype: 'bool', dims: [1, 'seq'] }, sent: ['ids'] },
    });
    expect(fit(TWO, [tensor('mask', 'bool', [1, 2])])?.context.name).toBe('ids');
  });

  it('send another dtype, even one of the same width (int32 for float32): MODEL__INPUT_DTYPE', () => {
    const dtype = fit(MLP, [tensor('x', 'int32', [1, 16])]);
    expect(dtype?.code).toBe('MODEL__INPUT_DTYPE');
    expect(dtype?.message).toBe('input x must be float32; int32 was sent');
    expect(dtype?.context).toMatchObject({ expected: { name: 'x', dtype: 'float32', dims: ['batch', 16] }, sent: { name: 'x', dtype: 'int32', dims: [1, 16] } });
    expect(fit({ inputs: [{ name: 'h', dtype: 'float16', dims: [2] }] }, [tensor('h', 'float32', [2])])?.code).toBe('MODEL__INPUT_DTYPE');
  });

  it('send another rank, even with every fixed dim and the element count right: MODEL__INPUT_RANK', () => {
    // [2, 16, 1]: axis 0 is symbolic, axis 1 is 16, 32 elements; only the rank is wrong.
    const rank = fit(MLP, [tensor('x', 'float32', [2, 16, 1])]);
    expect(rank?.code).toBe('MODEL__INPUT_RANK');
    expect(rank?.message).toBe('input x must have 2 dimensions [batch, 16]; 3 were sent ([2, 16, 1])');
    expect(rank?.context).toMatchObject({ rank: 2, sentRank: 3, expected: { dims: ['batch', 16] }, sent: { dims: [2, 16, 1] } });
    // Fewer dims too, and a scalar for a vector.
    expect(fit(MLP, [tensor('x', 'float32', [16])])?.code).toBe('MODEL__INPUT_RANK');
    expect(fit({ inputs: [{ name: 'v', dtype: 'float32', dims: [1] }] }, [tensor('v', 'float32', [])])?.code).toBe('MODEL__INPUT_RANK');
    // A vector for a scalar: a model's [] is a shape (rank 0), not an open one.
    expect(fit({ inputs: [{ name: 's', dtype: 'float32', dims: [] }] }, [tensor('s', 'float32', [2])])?.code).toBe('MODEL__INPUT_RANK');
  });

  it('send another size at a fixed dim, even with the same element count: MODEL__INPUT_DIM naming the axis', () => {
    // [4, 8] holds 32 elements like [2, 16]: comparing counts alone would pass it.
    const dim = fit(MLP, [tensor('x', 'float32', [4, 8])]);
    expect(dim?.code).toBe('MODEL__INPUT_DIM');
    expect(dim?.message).toBe('input x must have 16 at axis 1 of [batch, 16]; 8 was sent ([4, 8])');
    expect(dim?.context).toMatchObject({ axis: 1, dim: 16, sentDim: 8, expected: { dims: ['batch', 16] }, sent: { dims: [4, 8] } });
    // The first axis is checked too (not only the last), and a fixed 0 is a size like any other.
    expect(fit(TWO, [tensor('ids', 'int64', [2, 3]), tensor('mask', 'bool', [1, 3])])?.context).toMatchObject({ name: 'ids', axis: 0, dim: 1, sentDim: 2 });
    expect(fit({ inputs: [{ name: 'e', dtype: 'uint8', dims: [0] }] }, [tensor('e', 'uint8', [1])])?.code).toBe('MODEL__INPUT_DIM');
    // An optional input sent with a wrong shape is refused like any other.
    expect(fit(TWO, [tensor('ids', 'int64', [1, 2]), tensor('mask', 'bool', [1, 2]), tensor('w', 'float32', [3])])?.context).toMatchObject({ name: 'w', axis: 0 });
  });

  it("send data whose byte length does not fit its own dims (shape right): MODEL__INPUT_BYTES", () => {
    const bytes = fit(MLP, [tensor('x', 'float32', [2, 16], 64)]);
    expect(bytes?.code).toBe('MODEL__INPUT_BYTES');
    expect(bytes?.message).toBe('input x holds 64 bytes; [2, 16] of float32 needs 128');
    expect(bytes?.context).toMatchObject({ bytes: 128, sentBytes: 64, expected: { dtype: 'float32', dims: ['batch', 16] }, sent: { dims: [2, 16], bytes: 64 } });
    // Checked when the model gives no shape too, and for one byte too many.
    expect(fit({ inputs: [{ name: 'a', dtype: 'uint8', dims: null }] }, [tensor('a', 'uint8', [3], 4)])?.code).toBe('MODEL__INPUT_BYTES');
    expect(fit(MLP, [tensor('x', 'float32', [1, 16], 65)])?.code).toBe('MODEL__INPUT_BYTES');
  });

  it('reports the first problem in a fixed order: unknown, missing, then per tensor dtype, rank, dim, bytes', () => {
    expect(fit(TWO, [tensor('nope', 'int64', [1]), tensor('ids', 'float32', [1])])?.code).toBe('MODEL__INPUT_UNKNOWN');
    expect(fit(TWO, [tensor('ids', 'float32', [9])])?.code).toBe('MODEL__INPUT_MISSING');
    expect(fit(MLP, [tensor('x', 'int32', [3], 1)])?.code).toBe('MODEL__INPUT_DTYPE');
    expect(fit(MLP, [tensor('x', 'float32', [3], 1)])?.code).toBe('MODEL__INPUT_RANK');
    expect(fit(MLP, [tensor('x', 'float32', [3, 3], 1)])?.code).toBe('MODEL__INPUT_DIM');
  });
});

describe('the codes', () => {
  it('are each produced by a case above (MODEL__NOT_ONNX by the reader at upload)', () => {
    seen.add(notOnnx('the model has no graph', 2).code);
    expect([...seen].sort()).toEqual(Object.keys(MODEL_ERRORS).sort());
    expect(notOnnx('the file is empty', 0)).toEqual({ code: 'MODEL__NOT_ONNX', message: 'the file is not an ONNX model: the file is empty', context: { problem: 'the file is empty', offset: 0 } });
  });
});
