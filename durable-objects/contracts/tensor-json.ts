import { API_LIMITS } from './schemas.ts';
import { bytesPerElement, elementCount, TENSOR_DTYPES, tensorProblem, tensorsBytes, toWire, type TensorDType, type WireTensor } from './tensors.ts';

/**
 * Input tensors as people write them, read into the wire format (tensors.ts): the portal's bid form
 * and the CLI (`doug inputs`, `doug bid --inputs`) take the same JSON. Accepted: the wire format
 * itself, and a plain form with `values` (flat or nested) instead of base64url `data`, listed or
 * keyed by name: `{"x": {"dtype": "float32", "dims": [1, 16], "values": [...]}}`.
 */

/** Most tensors one input set may hold. */
export const MAX_TENSORS = API_LIMITS.tensors;
/** Largest input set the API takes (PUT /v1/inputs), in raw tensor bytes. */
export const MAX_INPUT_BYTES = API_LIMITS.inputBytes;

export type InputsResult = { ok: true; tensors: WireTensor[]; bytes: number } | { ok: false; error: string };

type Json = unknown;
const isObject = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);
const INT_RANGE: Partial<Record<TensorDType, [number, number]>> = {
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint8: [0, 255],
  int8: [-128, 127],
};
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Flattens nested arrays ([[1, 2], [3, 4]] → [1, 2, 3, 4]) so values may follow the shape. */
function flatten(values: Json[]): Json[] {
  return values.some(Array.isArray) ? (values.flat(Infinity) as Json[]) : values;
}

/** Encodes plain values as little-endian bytes of the dtype; a problem string when one does not fit. */
export function encodeValues(dtype: TensorDType, values: readonly Json[]): Uint8Array | string {
  const size = bytesPerElement(dtype);
  const bytes = new Uint8Array(values.length * size);
  const view = new DataView(bytes.buffer);
  for (const [i, v] of values.entries()) {
    const at = `values[${i}]`;
    switch (dtype) {
      case 'float32':
      case 'float64':
        if (typeof v !== 'number' || !Number.isFinite(v)) return `${at} must be a number`;
        if (dtype === 'float32') view.setFloat32(i * 4, v, true);
        else view.setFloat64(i * 8, v, true);
        break;
      case 'int64': {
        let big: bigint;
        if (typeof v === 'number' && Number.isSafeInteger(v)) big = BigInt(v);
        else if (typeof v === 'string' && /^-?[0-9]{1,19}$/.test(v)) big = BigInt(v);
        else return `${at} must be a whole number (as a string beyond 2^53)`;
        if (big < INT64_MIN || big > INT64_MAX) return `${at} is out of the int64 range`;
        view.setBigInt64(i * 8, big, true);
        break;
      }
      case 'bool':
        if (v === true || v === 1) view.setUint8(i, 1);
        else if (v === false || v === 0) view.setUint8(i, 0);
        else return `${at} must be true, false, 1 or 0`;
        break;
      default: {
        const [min, max] = INT_RANGE[dtype]!;
        if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) return `${at} must be a whole number from ${min} to ${max}`;
        if (dtype === 'int32') view.setInt32(i * 4, v, true);
        else if (dtype === 'uint8') view.setUint8(i, v);
        else view.setInt8(i, v);
      }
    }
  }
  return bytes;
}

/** One tensor, in wire form (data) or friendly form (values), named by `name`. */
function readTensor(name: string, raw: Json, where: string): WireTensor | string {
  if (!isObject(raw)) return `${where} must be an object with dtype, dims and values (or data)`;
  const dtype = raw.dtype;
  if (typeof dtype !== 'string' || !(TENSOR_DTYPES as readonly string[]).includes(dtype)) return `${name}: dtype must be one of ${TENSOR_DTYPES.join(', ')}`;
  const dims = raw.dims;
  if (!Array.isArray(dims) || dims.length > 8 || !dims.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) return `${name}: dims must be a list of at most 8 whole numbers, such as [1, 4]`;
  const shape = dims as number[];
  if ('data' in raw && 'values' in raw) return `${name}: give either data or values, not both`;
  if ('values' in raw) {
    if (!Array.isArray(raw.values)) return `${name}: values must be a list of numbers`;
    const values = flatten(raw.values);
    const need = elementCount(shape);
    if (values.length !== need) return `${name}: values holds ${values.length} number${values.length === 1 ? '' : 's'}; dims [${shape.join(', ')}] need ${need}`;
    const encoded = encodeValues(dtype as TensorDType, values);
    if (typeof encoded === 'string') return `${name}: ${encoded}`;
    return toWire(name, dtype as TensorDType, shape, encoded);
  }
  const tensor = { name, dtype: dtype as TensorDType, dims: shape, data: raw.data as string };
  const problem = tensorProblem(tensor);
  return problem ? `${name}: ${problem}` : tensor;
}

/**
 * Reads the input tensors from JSON. Accepted: the wire format (a list of `{name, dtype, dims,
 * data}` with data the base64url of little-endian bytes, or `{tensors: [...]}`), and a friendlier
 * form with plain `values` instead of `data`, either as a list of `{name, dtype, dims, values}`
 * or as an object keyed by name: `{"x": {"dtype": "float32", "dims": [1, 4], "values": [1, 2, 3, 4]}}`.
 */
export function parseInputs(text: string): InputsResult {
  if (text.trim() === '') return { ok: false, error: 'Give the input tensors as JSON.' };
  let parsed: Json;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: `Not valid JSON: ${(e as Error).message}` };
  }
  if (isObject(parsed) && Array.isArray(parsed.tensors) && Object.keys(parsed).length === 1) parsed = parsed.tensors;
  const entries: [string, Json, string][] = [];
  if (Array.isArray(parsed)) {
    for (const [i, item] of parsed.entries()) {
      const name = isObject(item) ? item.name : undefined;
      if (typeof name !== 'string' || name.length === 0 || name.length > 128) return { ok: false, error: `[${i}]: name must be 1-128 characters` };
      entries.push([name, item, `[${i}]`]);
    }
  } else if (isObject(parsed)) {
    for (const [name, item] of Object.entries(parsed)) {
      if (name.length > 128) return { ok: false, error: `a tensor name is longer than 128 characters` };
      entries.push([name, item, name]);
    }
  } else {
    return { ok: false, error: 'Expected a list of tensors or an object keyed by tensor name.' };
  }
  if (entries.length === 0) return { ok: false, error: 'Give at least one tensor.' };
  if (entries.length > MAX_TENSORS) return { ok: false, error: `At most ${MAX_TENSORS} tensors.` };
  const seen = new Set<string>();
  const tensors: WireTensor[] = [];
  for (const [name, raw, where] of entries) {
    if (seen.has(name)) return { ok: false, error: `Two tensors are named ${name}.` };
    seen.add(name);
    const t = readTensor(name, raw, where);
    if (typeof t === 'string') return { ok: false, error: t };
    tensors.push(t);
  }
  const bytes = tensorsBytes(tensors);
  if (bytes > MAX_INPUT_BYTES) return { ok: false, error: `The inputs hold ${bytes.toLocaleString('en')} bytes; the limit is ${MAX_INPUT_BYTES.toLocaleString('en')} (4 MiB).` };
  return { ok: true, tensors, bytes };
}
