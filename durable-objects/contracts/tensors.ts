import { base64UrlDecode, base64UrlEncode, sha256Hex } from './auth.ts';

/**
 * Named tensors on the wire and their canonical encoding. Agents digest their outputs with
 * `tensorsDigest`; the job object compares digests when replicas ran on the same runtime, and
 * decoded values (within the job's tolerance) when they did not.
 */
export type TensorDType = 'float32' | 'float64' | 'int32' | 'int64' | 'uint8' | 'int8' | 'bool';

export const TENSOR_DTYPES: readonly TensorDType[] = ['float32', 'float64', 'int32', 'int64', 'uint8', 'int8', 'bool'];

const BYTES: Record<TensorDType, number> = { float32: 4, float64: 8, int32: 4, int64: 8, uint8: 1, int8: 1, bool: 1 };

/** A tensor as JSON: raw little-endian bytes in base64url. */
export interface WireTensor {
  name: string;
  dtype: TensorDType;
  dims: number[];
  data: string;
}

/** Bytes one element of a dtype takes. */
export const bytesPerElement = (dtype: TensorDType): number => BYTES[dtype];

/** Number of elements of a shape (1 for a scalar). */
export const elementCount = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** Checks a wire tensor's shape against its byte length; returns a problem or null. */
export function tensorProblem(t: WireTensor): string | null {
  if (typeof t.name !== 'string' || t.name.length === 0 || t.name.length > 128) return 'name must be 1-128 characters';
  if (!TENSOR_DTYPES.includes(t.dtype)) return `dtype must be one of ${TENSOR_DTYPES.join(', ')}`;
  if (!Array.isArray(t.dims) || t.dims.length > 8 || !t.dims.every((d) => Number.isSafeInteger(d) && d >= 0)) return 'dims must be at most 8 non-negative integers';
  if (typeof t.data !== 'string' || !/^[A-Za-z0-9_-]*$/.test(t.data)) return 'data must be base64url';
  const expected = elementCount(t.dims) * BYTES[t.dtype];
  const actual = Math.floor((t.data.length * 3) / 4);
  if (actual !== expected) return `data holds ${actual} bytes; dims × dtype need ${expected}`;
  return null;
}

/** Encodes raw little-endian bytes as a wire tensor. */
export function toWire(name: string, dtype: TensorDType, dims: number[], bytes: Uint8Array): WireTensor {
  return { name, dtype, dims, data: base64UrlEncode(bytes) };
}

/** The tensor's raw bytes. */
export function wireBytes(t: WireTensor): Uint8Array<ArrayBuffer> {
  return base64UrlDecode(t.data);
}

/** Elements as numbers (int64 through Number: exact up to 2^53), for tolerance comparisons. */
export function wireValues(t: WireTensor): number[] {
  const bytes = wireBytes(t);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = elementCount(t.dims);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    switch (t.dtype) {
      case 'float32': out[i] = view.getFloat32(i * 4, true); break;
      case 'float64': out[i] = view.getFloat64(i * 8, true); break;
      case 'int32': out[i] = view.getInt32(i * 4, true); break;
      case 'int64': out[i] = Number(view.getBigInt64(i * 8, true)); break;
      case 'uint8': case 'bool': out[i] = view.getUint8(i); break;
      case 'int8': out[i] = view.getInt8(i); break;
    }
  }
  return out;
}

/**
 * The canonical encoding of a set of named tensors, digested: tensors sorted by name; for each,
 * a header line `name\tdtype\tdims` then the raw bytes. Same tensors, same digest, on any machine.
 */
export async function tensorsDigest(tensors: readonly WireTensor[]): Promise<string> {
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const t of sorted) {
    parts.push(encoder.encode(`${t.name}\t${t.dtype}\t${t.dims.join(',')}\n`));
    parts.push(wireBytes(t));
  }
  const total = parts.reduce((n, p) => n + p.byteLength, 0);
  const all = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    all.set(p, offset);
    offset += p.byteLength;
  }
  return sha256Hex(all);
}

/** Total raw bytes of a set of tensors. */
export const tensorsBytes = (tensors: readonly WireTensor[]): number => tensors.reduce((n, t) => n + elementCount(t.dims) * BYTES[t.dtype], 0);
