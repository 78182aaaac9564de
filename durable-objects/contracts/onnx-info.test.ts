import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { buildAddModel, buildIdentityModel, buildMlpModel } from '../../gpu-agent/models/build.ts';
import { onnxModel } from '../../test/support/onnx-model.ts';
import { formatShape, readModelInfo, type ModelInfo } from './onnx-info.ts';

const { onnx } = onnxProto;
const SMALL = { inputSize: 16, hidden: 8, outputSize: 4, seed: 1 };

function info(bytes: Uint8Array): ModelInfo {
  const read = readModelInfo(bytes);
  if (!read.ok) throw new Error(`not read: ${read.error.problem} at ${read.error.offset}`);
  return read.info;
}

function problem(bytes: Uint8Array): string {
  const read = readModelInfo(bytes);
  if (read.ok) throw new Error('read as a model');
  return read.error.problem;
}

/** A model encoded by onnx-proto from a plain graph description (fields as onnx.proto names them). */
function encode(graph: Record<string, unknown>, model: Record<string, unknown> = { irVersion: 8, opsetImport: [{ domain: '', version: 13 }] }): Uint8Array {
  return new Uint8Array(onnx.ModelProto.encode(onnx.ModelProto.create({ ...model, graph })).finish());
}

const tensorValue = (name: string, elemType: number, dim?: Record<string, unknown>[]) => ({ name, type: { tensorType: { elemType, ...(dim ? { shape: { dim } } : {}) } } });

describe('models built by gpu-agent/models/build.ts', () => {
  it('reads the MLP with a symbolic batch: x [batch, 16] float32 to y [batch, 4], its weights not inputs', () => {
    expect(info(buildMlpModel(SMALL))).toEqual({
      version: 1,
      irVersion: 8,
      inputs: [{ name: 'x', dtype: 'float32', dims: ['batch', 16] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: ['batch', 4] }],
    });
  });

  it('reads a fixed batch as a number', () => {
    expect(info(buildMlpModel({ ...SMALL, batch: 3 })).inputs).toEqual([{ name: 'x', dtype: 'float32', dims: [3, 16] }]);
  });

  it('reads the add model (symbolic n) and each dtype of the identity model in graph order', () => {
    expect(info(buildAddModel()).inputs).toEqual([{ name: 'x', dtype: 'float32', dims: ['n'] }]);
    const dtypes = ['float32', 'float64', 'int32', 'int64', 'uint8', 'int8', 'bool'] as const;
    const identity = info(buildIdentityModel(dtypes));
    expect(identity.inputs).toEqual(dtypes.map((d) => ({ name: `in_${d}`, dtype: d, dims: ['n'] })));
    expect(identity.outputs.map((o) => [o.name, o.dtype])).toEqual(dtypes.map((d) => [`out_${d}`, d]));
  });

  it('reads the bench-sized MLP (about 42 MB of weights) by skipping them', () => {
    const bytes = buildMlpModel({ inputSize: 1024, hidden: 5120, outputSize: 1024, seed: 7 });
    const started = performance.now();
    expect(info(bytes).inputs).toEqual([{ name: 'x', dtype: 'float32', dims: ['batch', 1024] }]);
    // Not a benchmark: the reader must not walk the weights element by element (that takes seconds).
    expect(performance.now() - started).toBeLessThan(500);
  });
});

describe('shapes and types as onnx.proto allows them', () => {
  it('marks initializers listed as graph inputs (older exporters) optional, and keeps required inputs required', () => {
    const bytes = encode({
      name: 'g',
      node: [{ opType: 'Add', input: ['x', 'w'], output: ['y'] }],
      initializer: [{ name: 'w', dims: [2], dataType: 1, rawData: new Uint8Array(8) }],
      input: [tensorValue('x', 1, [{ dimValue: 2 }]), tensorValue('w', 1, [{ dimValue: 2 }])],
      output: [tensorValue('y', 1, [{ dimValue: 2 }])],
    });
    expect(info(bytes).inputs).toEqual([
      { name: 'x', dtype: 'float32', dims: [2] },
      { name: 'w', dtype: 'float32', dims: [2], optional: true },
    ]);
  });

  it('treats sparse initializers as initializers too', () => {
    const bytes = encode({
      name: 'g',
      sparseInitializer: [{ values: { name: 's', dims: [1], dataType: 1, rawData: new Uint8Array(4) }, indices: { name: 'i', dims: [1], dataType: 7, rawData: new Uint8Array(8) }, dims: [4] }],
      input: [tensorValue('s', 1, [{ dimValue: 4 }])],
      output: [tensorValue('y', 1)],
    });
    expect(info(bytes).inputs).toEqual([{ name: 's', dtype: 'float32', dims: [4], optional: true }]);
  });

  it('reads an open dim as null, no shape as null dims, a negative dim_value as open, and a scalar as []', () => {
    const bytes = encode({
      name: 'g',
      input: [tensorValue('open', 1, [{}, { dimValue: 5 }]), tensorValue('anyRank', 7), tensorValue('negative', 1, [{ dimValue: -1 }]), tensorValue('scalar', 9, [])],
      output: [tensorValue('y', 1)],
    });
    const inputs = info(bytes).inputs;
    expect(inputs.map((i) => i.dims)).toEqual([[null, 5], null, [null], []]);
    expect(inputs.map((i) => i.dtype)).toEqual(['float32', 'int64', 'float32', 'bool']);
    const scalar = onnxModel({ inputs: [{ name: 's', dtype: 'bool', dims: [] }] });
    expect(info(scalar).inputs).toEqual([{ name: 's', dtype: 'bool', dims: [] }]);
  });

  it("names ONNX types the API cannot send by ONNX's name, and values that are not tensors by their kind", () => {
    const bytes = encode({
      name: 'g',
      input: [tensorValue('h', 10, [{ dimValue: 2 }]), tensorValue('s', 8, [{ dimValue: 1 }]), { name: 'seq', type: { sequenceType: { elemType: { tensorType: { elemType: 1 } } } } }, tensorValue('odd', 99)],
      output: [tensorValue('y', 1)],
    });
    expect(info(bytes).inputs.map((i) => [i.name, i.dtype, i.dims])).toEqual([
      ['h', 'float16', [2]],
      ['s', 'string', [1]],
      ['seq', 'sequence', null],
      ['odd', 'elem_type 99', null],
    ]);
  });

  it('skips fields it does not read, of every wire type (metadata, doc strings, functions, fixed32/64 in unknown fields)', () => {
    const base = buildAddModel();
    // An unknown field 99 of each wire type (varint, fixed64, bytes, fixed32) appended at the top level.
    const extra = new Uint8Array([0x98, 0x06, 0x2a, 0x99, 0x06, 1, 2, 3, 4, 5, 6, 7, 8, 0x9a, 0x06, 2, 0xff, 0xfe, 0x9d, 0x06, 1, 2, 3, 4]);
    const bytes = new Uint8Array([...base, ...extra]);
    expect(info(bytes)).toEqual(info(base));
    const documented = encode(
      { name: 'g', docString: 'a graph', input: [tensorValue('x', 1, [{ dimParam: 'n' }])], output: [tensorValue('y', 1, [{ dimParam: 'n' }])] },
      { irVersion: 9, docString: 'doc', producerName: 'p', metadataProps: [{ key: 'k', value: 'v' }], opsetImport: [{ domain: '', version: 18 }] },
    );
    expect(info(documented)).toMatchObject({ irVersion: 9, inputs: [{ name: 'x', dims: ['n'] }] });
  });

  it('formats shapes for messages', () => {
    expect([formatShape(['batch', 16]), formatShape([null, 3]), formatShape([]), formatShape(null)]).toEqual(['[batch, 16]', '[?, 3]', '[]', 'any shape']);
  });
});

describe('bytes that are not an ONNX model', () => {
  it('refuses the empty file, text, JSON, and the bytes the old tests uploaded as models', () => {
    expect(problem(new Uint8Array())).toBe('the file is empty');
    const refused = ['hello world', '{"model": 1}', '\u0000\u0001\u0002'].map((s) => readModelInfo(new TextEncoder().encode(s)).ok);
    expect(refused).toEqual([false, false, false]);
    for (const garbage of [[8, 1, 2, 3, 4, 5], [1, 2, 3], [9, 9], [4, 2], [7, 7], [3], [1], [2]]) expect(readModelInfo(new Uint8Array(garbage)).ok).toBe(false);
  });

  it('refuses a protobuf without a graph, without an IR version, or whose graph has no outputs', () => {
    expect(problem(new Uint8Array([0x08, 0x08]))).toBe('the model has no graph');
    expect(problem(encode({ name: 'g', input: [tensorValue('x', 1)], output: [tensorValue('y', 1)] }, { opsetImport: [{ version: 13 }] }))).toBe('the model has no IR version');
    expect(problem(encode({ name: 'g', input: [tensorValue('x', 1)] }))).toBe('the graph has no outputs');
  });

  it('refuses unnamed inputs, inputs listed twice, groups, wrong wire types, long varints and names that are not UTF-8', () => {
    expect(problem(encode({ name: 'g', input: [tensorValue('', 1)], output: [tensorValue('y', 1)] }))).toBe('a graph input has no name');
    expect(problem(encode({ name: 'g', input: [tensorValue('x', 1), tensorValue('x', 1)], output: [tensorValue('y', 1)] }))).toBe('the graph lists input x twice');
    expect(problem(new Uint8Array([0x0b, 0x0c]))).toBe('groups are not used by ONNX');
    expect(problem(new Uint8Array([0x08, 0x08, 0x38, 0x01]))).toMatch(/graph must be a message/);
    expect(problem(new Uint8Array([0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]))).toBe('a varint is longer than 10 bytes');
    expect(problem(new Uint8Array([0x08, 0x08, 0x3a, 0x04, 0x5a, 0x02, 0x0a, 0x00]))).toBe('a graph input has no name');
    const badName = new Uint8Array([0x08, 0x08, 0x3a, 0x05, 0x5a, 0x03, 0x0a, 0x01, 0xff]);
    expect(problem(badName)).toBe('input name is not UTF-8');
    expect(problem(new Uint8Array([0x0f]))).toBe('wire type 7 does not exist');
    expect(problem(new Uint8Array([0x00, 0x01]))).toBe('field number 0 is out of range');
  });

  it('refuses every truncation of a model that cuts into its graph, and never throws', () => {
    const bytes = buildMlpModel(SMALL);
    const whole = info(bytes);
    let refused = 0;
    for (let n = 0; n < bytes.length; n++) {
      const read = readModelInfo(bytes.subarray(0, n));
      // A cut between top-level fields after the graph leaves a smaller but whole model; any other cut is refused.
      if (read.ok) expect(read.info).toEqual(whole);
      else refused++;
    }
    expect(refused).toBeGreaterThan(bytes.length - 10);
  });

  it('never throws on random bytes, nor on a model with random bytes written over it', () => {
    const model = buildAddModel();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        readModelInfo(bytes);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(model.length - 1), fc.nat(255)), { minLength: 1, maxLength: 4 }), (flips) => {
        const bytes = new Uint8Array(model);
        for (const [at, value] of flips) bytes[at] = value;
        const read = readModelInfo(bytes);
        if (read.ok) expect(read.info.outputs.length).toBeGreaterThan(0);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("the tests' own model writer (test/support/onnx-model.ts)", () => {
  it('writes what onnx-proto reads and onnxruntime loads, and what readModelInfo reads back', async () => {
    const bytes = onnxModel({ inputs: [{ name: 'x', dtype: 'float32', dims: ['n', 2, null] }], tag: 't1' });
    const decoded = onnx.ModelProto.decode(bytes);
    expect(decoded.producerName).toBe('t1');
    expect(decoded.graph?.input?.[0]?.type?.tensorType?.shape?.dim?.map((d) => d.dimParam || Number(d.dimValue))).toEqual(['n', 2, 0]);
    expect(info(bytes).inputs).toEqual([{ name: 'x', dtype: 'float32', dims: ['n', 2, null] }]);
    const session = await ort.InferenceSession.create(bytes);
    const out = await session.run({ x: new ort.Tensor('float32', new Float32Array([1, 2, 3, 4]), [1, 2, 2]) });
    expect(Array.from(out.y!.data as Float32Array)).toEqual([1, 2, 3, 4]);
    await session.release();
    expect(info(onnxModel({ inputs: [{ name: 'x', dtype: 'int64', dims: [3] }], initializers: ['x'] })).inputs).toEqual([{ name: 'x', dtype: 'int64', dims: [3], optional: true }]);
  });
});
