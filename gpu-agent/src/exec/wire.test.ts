import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { bytesPerElement, elementCount, TENSOR_DTYPES, tensorsDigest, toWire, wireValues, type TensorDType } from '../../../durable-objects/contracts/tensors.ts';
import { ortToWire, rawTensorsDigest, rawToWire, wireToOrt, type RawTensor } from './wire.ts';

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

const SAMPLES: { dtype: TensorDType; data: ArrayBufferView; values: number[] }[] = [
  { dtype: 'float32', data: Float32Array.from([1.5, -0, 3e-38, 1e30, -7]), values: [1.5, -0, Math.fround(3e-38), Math.fround(1e30), -7] },
  { dtype: 'float64', data: Float64Array.from([Math.PI, -1e300]), values: [Math.PI, -1e300] },
  { dtype: 'int32', data: Int32Array.from([-(2 ** 31), 2 ** 31 - 1, 0]), values: [-(2 ** 31), 2 ** 31 - 1, 0] },
  { dtype: 'int64', data: BigInt64Array.from([-(2n ** 53n), 42n]), values: [-(2 ** 53), 42] },
  { dtype: 'uint8', data: Uint8Array.from([0, 255, 7]), values: [0, 255, 7] },
  { dtype: 'int8', data: Int8Array.from([-128, 127]), values: [-128, 127] },
  { dtype: 'bool', data: Uint8Array.from([1, 0]), values: [1, 0] },
];

describe('decoding wire tensors', () => {
  for (const s of SAMPLES) {
    it(`gives an onnxruntime ${s.dtype} tensor with the same elements`, () => {
      const wire = toWire('t', s.dtype, [s.values.length], bytesOf(s.data));
      const tensor = wireToOrt(wire);
      if (typeof tensor === 'string') throw new Error(tensor);
      expect(tensor.type).toBe(s.dtype);
      expect(tensor.dims).toEqual([s.values.length]);
      expect(bytesOf(tensor.data as ArrayBufferView)).toEqual(bytesOf(s.data));
      expect(wireValues(wire)).toEqual(s.values);
    });
  }

  it('aligns the typed array even for a multi-dimensional float64 tensor', () => {
    const data = Float64Array.from({ length: 6 }, (_, i) => i / 3);
    const tensor = wireToOrt(toWire('m', 'float64', [2, 3], bytesOf(data)));
    if (typeof tensor === 'string') throw new Error(tensor);
    expect(tensor.data).toBeInstanceOf(Float64Array);
    expect(Array.from(tensor.data as Float64Array)).toEqual(Array.from(data));
  });

  it('reports a byte length that does not fit the shape', () => {
    const wire = toWire('x', 'float32', [3], new Uint8Array(8));
    expect(wireToOrt(wire)).toMatch(/^input "x": data holds 8 bytes; dims × dtype need 12$/);
  });

  it('reports an unknown dtype', () => {
    expect(wireToOrt({ name: 'x', dtype: 'float16' as TensorDType, dims: [1], data: 'AAA' })).toMatch(/dtype must be one of/);
  });
});

describe('encoding onnxruntime tensors', () => {
  for (const s of SAMPLES) {
    it(`gives the same wire text as contracts' toWire for ${s.dtype}`, () => {
      const dims = [1, s.values.length];
      const wire = ortToWire('out', new ort.Tensor(s.dtype, s.data as never, dims));
      expect(wire).toEqual(toWire('out', s.dtype, dims, bytesOf(s.data)));
    });
  }

  it('encodes a view into a larger buffer by its own bytes only', () => {
    const whole = Float32Array.from([9, 1, 2, 9]);
    const wire = ortToWire('v', new ort.Tensor('float32', whole.subarray(1, 3), [2]));
    expect(wire).toEqual(toWire('v', 'float32', [2], bytesOf(Float32Array.from([1, 2]))));
  });

  it('refuses types the wire does not carry', () => {
    expect(ortToWire('s', new ort.Tensor('string', ['a'], [1]))).toBe('output "s" has type string, which the wire does not carry');
  });
});

describe('the raw digest', () => {
  const rawTensor = fc
    .record({
      name: fc.string({ minLength: 1, maxLength: 6, unit: 'grapheme' }),
      dtype: fc.constantFrom(...TENSOR_DTYPES),
      dims: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
    })
    .chain((t) => fc.uint8Array({ minLength: elementCount(t.dims) * bytesPerElement(t.dtype), maxLength: elementCount(t.dims) * bytesPerElement(t.dtype) }).map((bytes): RawTensor => ({ ...t, bytes })));

  it('equals tensorsDigest of the same tensors on the wire, for any set', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(rawTensor, { maxLength: 5, selector: (t) => t.name }), async (tensors) => {
        expect(rawTensorsDigest(tensors)).toBe(await tensorsDigest(tensors.map(rawToWire)));
      }),
      { numRuns: 200 },
    );
  });
});
