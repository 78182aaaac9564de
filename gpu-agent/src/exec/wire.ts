import { createHash } from 'node:crypto';
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

/** A tensor's name, dtype and shape with its raw bytes, before base64. */
export interface RawTensor {
  name: string;
  dtype: TensorDType;
  dims: readonly number[];
  bytes: Uint8Array;
}

/**
 * `tensorsDigest` (contracts/tensors.ts) computed from raw bytes the runner already holds, with
 * node:crypto: the same canonical encoding (sorted by name; `name\tdtype\tdims\n` then bytes),
 * so the same digest, without decoding base64 again or a WebCrypto round trip (~35 µs of a ~1 ms
 * run). wire.test.ts checks equality with tensorsDigest on random tensor sets.
 */
export function rawTensorsDigest(tensors: readonly RawTensor[]): string {
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const hash = createHash('sha256');
  for (const t of sorted) {
    hash.update(`${t.name}\t${t.dtype}\t${t.dims.join(',')}\n`, 'utf8');
    hash.update(t.bytes);
  }
  return hash.digest('hex');
}

/** Encodes an onnxruntime tensor as a wire tensor (raw little-endian bytes); returns a problem string for types the wire lacks. */
export function ortToWire(name: string, tensor: ort.Tensor): WireTensor | string {
  const raw = ortToRaw(name, tensor);
  return typeof raw === 'string' ? raw : rawToWire(raw);
}

/** An onnxruntime tensor's raw bytes (a view, no copy); a problem string for types the wire lacks. */
export function ortToRaw(name: string, tensor: ort.Tensor): RawTensor | string {
  if (!isWireDType(tensor.type)) return `output ${JSON.stringify(name)} has type ${tensor.type}, which the wire does not carry`;
  const data = tensor.data as WireArray;
  return { name, dtype: tensor.type, dims: [...tensor.dims], bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/** Base64url-encodes raw tensor bytes as a wire tensor. */
export function rawToWire(t: RawTensor): WireTensor {
  const data = Buffer.from(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength).toString('base64url');
  return { name: t.name, dtype: t.dtype, dims: [...t.dims], data };
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
