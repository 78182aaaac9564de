/**
 * ONNX models built in code (nothing is downloaded): a seeded MLP sized for benchmarks and a
 * one-node `y = x + 1` for fast tests. Encoded with onnx-proto's generated protobufjs classes.
 */
import { createHash } from 'node:crypto';
import onnxProto from 'onnx-proto';
export { prng } from './prng.ts';
import { prng } from './prng.ts';

// onnx-proto is CommonJS (`module.exports = { onnx }`); its default import is the namespace root.
const { onnx } = onnxProto;

const OPSET = 13;
const IR_VERSION = 8;

/** SHA-256 of model bytes, lowercase hex: the model's content address. */
export function modelSha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}


/** The MLP's parameters, float32, row-major: w1 [inputSize, hidden], w2 [hidden, outputSize]. */
export interface MlpWeights {
  inputSize: number;
  hidden: number;
  outputSize: number;
  w1: Float32Array;
  b1: Float32Array;
  w2: Float32Array;
  b2: Float32Array;
}

export interface MlpOptions {
  inputSize: number;
  hidden: number;
  outputSize: number;
  seed: number;
  /** A fixed batch size; omitted, the batch dimension is symbolic ("batch"). */
  batch?: number;
}

/** The benchmark MLP: one batch-1 run takes about 1 ms on one core of the dev machine (42 MB of weights, memory-bound). */
export const BENCH_MLP: Readonly<Omit<MlpOptions, 'batch'>> = { inputSize: 1024, hidden: 5120, outputSize: 1024, seed: 7 };

/** The weights `buildMlpModel` bakes in for these options (uniform, scaled by 1/sqrt(fan-in)). */
export function mlpWeights(o: Omit<MlpOptions, 'batch'>): MlpWeights {
  const rand = prng(o.seed);
  const fill = (n: number, scale: number) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = (rand() * 2 - 1) * scale;
    return a;
  };
  const s1 = 1 / Math.sqrt(o.inputSize);
  const s2 = 1 / Math.sqrt(o.hidden);
  return {
    inputSize: o.inputSize,
    hidden: o.hidden,
    outputSize: o.outputSize,
    w1: fill(o.inputSize * o.hidden, s1),
    b1: fill(o.hidden, s1),
    w2: fill(o.hidden * o.outputSize, s2),
    b2: fill(o.outputSize, s2),
  };
}

/** Plain-JS forward pass (float64 accumulation): the test oracle for the MLP. */
export function mlpReference(w: MlpWeights, x: Float32Array, batch: number): Float64Array {
  const y = new Float64Array(batch * w.outputSize);
  const h = new Float64Array(w.hidden);
  for (let b = 0; b < batch; b++) {
    h.set(w.b1);
    for (let i = 0; i < w.inputSize; i++) {
      const xi = x[b * w.inputSize + i]!;
      const row = i * w.hidden;
      for (let j = 0; j < w.hidden; j++) h[j]! += xi * w.w1[row + j]!;
    }
    for (let j = 0; j < w.hidden; j++) if (h[j]! < 0) h[j] = 0;
    const out = b * w.outputSize;
    for (let k = 0; k < w.outputSize; k++) y[out + k] = w.b2[k]!;
    for (let j = 0; j < w.hidden; j++) {
      const hj = h[j]!;
      if (hj === 0) continue;
      const row = j * w.outputSize;
      for (let k = 0; k < w.outputSize; k++) y[out + k]! += hj * w.w2[row + k]!;
    }
  }
  return y;
}

/** x [batch, inputSize] -> MatMul, Add, Relu, MatMul, Add -> y [batch, outputSize], float32. */
export function buildMlpModel(o: MlpOptions): Uint8Array {
  const w = mlpWeights(o);
  const batchDim = o.batch === undefined ? { dimParam: 'batch' } : { dimValue: o.batch };
  return encodeModel({
    name: 'doug_mlp',
    nodes: [
      { opType: 'MatMul', input: ['x', 'w1'], output: ['h0'], name: 'matmul1' },
      { opType: 'Add', input: ['h0', 'b1'], output: ['h1'], name: 'add1' },
      { opType: 'Relu', input: ['h1'], output: ['h2'], name: 'relu' },
      { opType: 'MatMul', input: ['h2', 'w2'], output: ['h3'], name: 'matmul2' },
      { opType: 'Add', input: ['h3', 'b2'], output: ['y'], name: 'add2' },
    ],
    initializer: [
      floatInitializer('w1', [o.inputSize, o.hidden], w.w1),
      floatInitializer('b1', [o.hidden], w.b1),
      floatInitializer('w2', [o.hidden, o.outputSize], w.w2),
      floatInitializer('b2', [o.outputSize], w.b2),
    ],
    input: [valueInfo('x', onnx.TensorProto.DataType.FLOAT, [batchDim, { dimValue: o.inputSize }])],
    output: [valueInfo('y', onnx.TensorProto.DataType.FLOAT, [batchDim, { dimValue: o.outputSize }])],
  });
}

/** y = x + 1 over a float32 vector of symbolic length `n`: the smallest useful model. */
export function buildAddModel(): Uint8Array {
  return encodeModel({
    name: 'doug_add_one',
    nodes: [{ opType: 'Add', input: ['x', 'one'], output: ['y'], name: 'add' }],
    initializer: [floatInitializer('one', [], new Float32Array([1]))],
    input: [valueInfo('x', onnx.TensorProto.DataType.FLOAT, [{ dimParam: 'n' }])],
    output: [valueInfo('y', onnx.TensorProto.DataType.FLOAT, [{ dimParam: 'n' }])],
  });
}

/**
 * y = table[i] over a float32 table of 4 entries and int64 indices of symbolic length `n`. An index
 * outside [-4, 3] fits the model's interface but fails at run time (Gather's bounds check): the
 * input a failed-run verdict is tested with.
 */
export function buildGatherModel(): Uint8Array {
  return encodeModel({
    name: 'doug_gather',
    nodes: [{ opType: 'Gather', input: ['table', 'i'], output: ['y'], name: 'lookup' }],
    initializer: [floatInitializer('table', [4], new Float32Array([10, 20, 30, 40]))],
    input: [valueInfo('i', onnx.TensorProto.DataType.INT64, [{ dimParam: 'n' }])],
    output: [valueInfo('y', onnx.TensorProto.DataType.FLOAT, [{ dimParam: 'n' }])],
  });
}

const ELEM_TYPES = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float64: onnx.TensorProto.DataType.DOUBLE,
  int32: onnx.TensorProto.DataType.INT32,
  int64: onnx.TensorProto.DataType.INT64,
  uint8: onnx.TensorProto.DataType.UINT8,
  int8: onnx.TensorProto.DataType.INT8,
  bool: onnx.TensorProto.DataType.BOOL,
} as const;

/** One Identity per dtype: input `in_<dtype>` -> output `out_<dtype>`, shape symbolic. For wire-codec tests. */
export function buildIdentityModel(dtypes: readonly (keyof typeof ELEM_TYPES)[]): Uint8Array {
  return encodeModel({
    name: 'doug_identity',
    nodes: dtypes.map((d) => ({ opType: 'Identity', input: [`in_${d}`], output: [`out_${d}`], name: `identity_${d}` })),
    initializer: [],
    input: dtypes.map((d) => valueInfo(`in_${d}`, ELEM_TYPES[d], [{ dimParam: 'n' }])),
    output: dtypes.map((d) => valueInfo(`out_${d}`, ELEM_TYPES[d], [{ dimParam: 'n' }])),
  });
}

export type Dim = { dimValue: number } | { dimParam: string };

export function floatInitializer(name: string, dims: number[], values: Float32Array): InstanceType<typeof onnx.TensorProto> {
  // raw_data is little-endian by the ONNX spec; typed arrays are host-endian, and every host we run on is little-endian.
  const rawData = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  return onnx.TensorProto.create({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData });
}

export function valueInfo(name: string, elemType: number, shape: Dim[]): InstanceType<typeof onnx.ValueInfoProto> {
  return onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType, shape: { dim: shape } } } });
}

/** A node as encodeModel takes it (attributes as onnx.AttributeProto fields). */
export interface NodeSpec {
  opType: string;
  input: string[];
  output: string[];
  name: string;
  attribute?: Record<string, unknown>[];
}

/** An ONNX model (opset 13) from its graph's parts; `valueInfo` types intermediate tensors. */
export function encodeModel(g: {
  name: string;
  nodes: NodeSpec[];
  initializer: InstanceType<typeof onnx.TensorProto>[];
  input: InstanceType<typeof onnx.ValueInfoProto>[];
  output: InstanceType<typeof onnx.ValueInfoProto>[];
  valueInfo?: InstanceType<typeof onnx.ValueInfoProto>[];
}): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    producerName: 'dougai',
    producerVersion: '1',
    opsetImport: [{ domain: '', version: OPSET }],
    graph: {
      name: g.name,
      node: g.nodes.map((n) => onnx.NodeProto.create(n)),
      initializer: g.initializer,
      input: g.input,
      output: g.output,
      valueInfo: g.valueInfo ?? [],
    },
  });
  // A plain, unshared Uint8Array: protobufjs hands back a Buffer, whose slice() is a view.
  return new Uint8Array(onnx.ModelProto.encode(model).finish());
}
