import * as ort from 'onnxruntime-node';
import { bytesPerElement, elementCount, tensorProblem, type TensorDType, type WireTensor } from '../../../durable-objects/contracts/tensors.ts';

/*
 * Wire tensors <-> onnxruntime tensors. Wire bytes are little-endian and typed arrays are
 * host-endian; every platform onnxruntime-node ships for is little-endian, so bytes map 1:1.
 * Node's Buffer base64url codec is used directly (the same alphabet, no padding, as
 * contracts' base64UrlEncode) because the portable one costs more than a small model's run.
 */

type WireArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array;

const WIRE_DTYPES = new Set<string>(['float32', 'float64', 'int32', 'int64', 'uint8', 'int8', 'bool']);

/** Whether an onnxruntime tensor type has a wire dtype (same names). */
export const isWireDType = (t: string): t is TensorDType => WIRE_DTYPES.has(t);

/** Decodes a wire tensor into an onnxruntime tensor over a fresh, aligned buffer; returns a problem string on bad input. */
export function wireToOrt(t: WireTensor): ort.Tensor | string {
  const problem = tensorProblem(t);
  if (problem) return `input ${JSON.stringify(t.name)}: ${problem}`;
  const n = elementCount(t.dims);
  const buffer = new ArrayBuffer(n * bytesPerElement(t.dtype));
  const written = Buffer.from(buffer).write(t.data, 0, buffer.byteLength, 'base64url');
  if (written !== buffer.byteLength) return `input ${JSON.stringify(t.name)}: data decodes to ${written} bytes; expected ${buffer.byteLength}`;
  return new ort.Tensor(t.dtype, typedView(t.dtype, buffer, n), t.dims);
}

/** Encodes an onnxruntime tensor as a wire tensor (raw little-endian bytes); returns a problem string for types the wire lacks. */
export function ortToWire(name: string, tensor: ort.Tensor): WireTensor | string {
  if (!isWireDType(tensor.type)) return `output ${JSON.stringify(name)} has type ${tensor.type}, which the wire does not carry`;
  const data = tensor.data as WireArray;
  const data64 = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64url');
  return { name, dtype: tensor.type, dims: [...tensor.dims], data: data64 };
}

function typedView(dtype: TensorDType, buffer: ArrayBuffer, n: number): WireArray {
  switch (dtype) {
    case 'float32': return new Float32Array(buffer, 0, n);
    case 'float64': return new Float64Array(buffer, 0, n);
    case 'int32': return new Int32Array(buffer, 0, n);
    case 'int64': return new BigInt64Array(buffer, 0, n);
    case 'int8': return new Int8Array(buffer, 0, n);
    case 'uint8': case 'bool': return new Uint8Array(buffer, 0, n);
  }
}
