/**
 * Small ONNX models for tests that cannot load onnx-proto (workerd): a protobuf writer of only the
 * fields a graph's interface needs. Each output is an Identity of the first input, so a model with
 * one input whose dtype matches runs in onnxruntime too. Checked against onnx-proto in
 * test/support/onnx-model.test.ts (Node).
 */
import { ONNX_ELEM_TYPE, type ModelDim } from '../../durable-objects/contracts/onnx-info.ts';
import type { TensorDType } from '../../durable-objects/contracts/tensors.ts';

export interface TestValue {
  name: string;
  dtype: TensorDType;
  /** null: no shape (any rank); a null dim: open; a string: symbolic (dim_param). */
  dims: ModelDim[] | null;
}

export interface TestModel {
  inputs: TestValue[];
  outputs?: TestValue[];
  /** Names of initializers (float32 scalars), listed as graph inputs when also named in `inputs`. */
  initializers?: string[];
  /** Written as producer_name: different tags give different bytes (and SHA-256s) for one interface. */
  tag?: string;
}

const encoder = new TextEncoder();

function varint(n: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  do {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v === 0n ? b : b | 0x80);
  } while (v !== 0n);
  return out;
}

const field = (n: number, wire: number) => varint(n * 8 + wire);
const int = (n: number, value: number | bigint) => [...field(n, 0), ...varint(value)];
const bytes = (n: number, body: readonly number[] | Uint8Array) => [...field(n, 2), ...varint(body.length), ...body];
const str = (n: number, s: string) => bytes(n, encoder.encode(s));

function valueInfo(v: TestValue): number[] {
  const shape = v.dims === null ? [] : bytes(2, v.dims.flatMap((d) => bytes(1, d === null ? [] : typeof d === 'number' ? int(1, d) : str(2, d))));
  const tensorType = [...int(1, ONNX_ELEM_TYPE[v.dtype]), ...shape];
  return [...str(1, v.name), ...bytes(2, bytes(1, tensorType))];
}

/** ModelProto bytes (IR 8, opset 13) with these graph inputs, outputs and initializers. */
export function onnxModel(m: TestModel): Uint8Array {
  const outputs = m.outputs ?? [{ name: 'y', dtype: m.inputs[0]?.dtype ?? 'float32', dims: m.inputs[0]?.dims ?? null }];
  const source = m.inputs[0]?.name ?? m.initializers?.[0] ?? 'c';
  const nodes = outputs.flatMap((o, i) => bytes(1, [...str(1, source), ...str(2, o.name), ...str(3, `identity${i}`), ...str(4, 'Identity')]));
  const initializers = (m.initializers ?? []).flatMap((name) => bytes(5, [...int(2, 1), ...str(8, name), ...bytes(9, new Uint8Array(new Float32Array([1]).buffer))]));
  const graph = [...nodes, ...str(2, 'test'), ...initializers, ...m.inputs.flatMap((v) => bytes(11, valueInfo(v))), ...outputs.flatMap((v) => bytes(12, valueInfo(v)))];
  return new Uint8Array([...int(1, 8), ...str(2, m.tag ?? 'dougai-test'), ...bytes(8, int(2, 13)), ...bytes(7, graph)]);
}

/** A model taking `x` (float32, any shape) to `y`: for tests whose agents are played by the test itself. */
export const anyShapeModel = (tag = 'any-shape'): Uint8Array => onnxModel({ inputs: [{ name: 'x', dtype: 'float32', dims: null }], tag });
