import type { Requirement } from '$contracts/api.ts';
import { bytesPerElement, elementCount, TENSOR_DTYPES, tensorProblem, tensorsBytes, toWire, type TensorDType, type WireTensor } from '$contracts/tensors.ts';
import { bidEscrow } from '$domain/market/validate.ts';
import { MAX_AMOUNT, parseDoug, type Amount } from '$domain/money.ts';
import { LIMITS } from '$domain/market/validate.ts';
import { API_LIMITS } from '$contracts/schemas.ts';

/**
 * The bid form's decisions: field validation, the escrow it will hold, and reading input tensors
 * typed or dropped in by the buyer. The server checks everything again and has the final word.
 */

/** Bounds the API enforces on a bid: the market's (domain/market/validate.ts) and the API's (contracts/schemas.ts). */
export const MAX_UNITS = LIMITS.units.max;
export const MAX_REPLICAS = LIMITS.replicas.max;
export const MAX_EXPIRY_MINUTES = API_LIMITS.maxTtlMs / 60_000;
export const DEFAULT_EXPIRY_MINUTES = 10;
export const MAX_TOLERANCE = API_LIMITS.tolerance;
/** Largest input set the API takes (PUT /v1/inputs), in raw tensor bytes. */
export const MAX_INPUT_BYTES = API_LIMITS.inputBytes;
/** Inline inputs travel inside the signed bid, whose body may not exceed 64 KiB; leave room for the rest. */
export const MAX_INLINE_JSON = 48 * 1024;
export const MAX_TENSORS = API_LIMITS.tensors;

/** The bid form as typed: every field a string, exactly as in its input. */
export interface BidForm {
  market: string;
  maxPrice: string;
  units: string;
  replicas: string;
  expiryMinutes: string;
  tolerance: string;
  accelerator: string;
  minMemoryGb: string;
}

export type BidField = keyof BidForm | 'model' | 'inputs';
export type FieldErrors = Partial<Record<BidField, string>>;

/** A valid form's terms, ready for `placeBid` (with the model and inputs added). */
export interface BidTerms {
  market: string;
  maxPrice: Amount;
  units: number;
  replicas: number;
  expiryMs: number;
  tolerance: number | null;
  requirements: Requirement[];
}

export const emptyBidForm = (): BidForm => ({
  market: '',
  maxPrice: '',
  units: '1',
  replicas: '1',
  expiryMinutes: String(DEFAULT_EXPIRY_MINUTES),
  tolerance: '',
  accelerator: '',
  minMemoryGb: '',
});

/** A whole number typed in a field, within bounds; null when it is not one. */
export function parseWhole(text: string, min: number, max: number): number | null {
  const t = text.trim();
  if (!/^[0-9]{1,16}$/.test(t)) return null;
  const n = Number(t);
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : null;
}

/** Max price per unit in DOUG: exact, positive, at most 9 decimals. */
export function maxPriceError(text: string): string | null {
  const t = text.trim();
  if (t === '') return 'Enter the most you pay per work unit, in DOUG.';
  const amount = parseDoug(t);
  if (amount === null) return /\.[0-9]{10,}$/.test(t) ? 'At most 9 decimal places.' : 'Enter an amount such as 0.002.';
  if (amount === 0n) return 'The price must be more than 0.';
  return null;
}


/** The escrow the form would hold, or null while price, units or replicas are not valid yet. */
export function escrowPreview(form: Pick<BidForm, 'maxPrice' | 'units' | 'replicas'>): { escrow: Amount; maxPrice: Amount; units: number; replicas: number } | null {
  if (maxPriceError(form.maxPrice)) return null;
  const maxPrice = parseDoug(form.maxPrice.trim())!;
  const units = parseWhole(form.units, 1, MAX_UNITS);
  const replicas = parseWhole(form.replicas, 1, MAX_REPLICAS);
  if (units === null || replicas === null) return null;
  return { escrow: bidEscrow({ maxPrice, units, replicas }), maxPrice, units, replicas };
}

/** How much the available balance falls short of the escrow (0 when it covers it). */
export function shortfall(escrow: Amount, available: Amount): Amount {
  return escrow > available ? escrow - available : 0n;
}

/** Checks every field; `terms` is set only when there is no error. */
export function validateBidForm(form: BidForm, markets: readonly string[] = []): { terms: BidTerms | null; errors: FieldErrors } {
  const errors: FieldErrors = {};
  if (form.market === '') errors.market = 'Choose a market.';
  else if (markets.length > 0 && !markets.includes(form.market)) errors.market = `There is no market named ${form.market}.`;

  const priceProblem = maxPriceError(form.maxPrice);
  if (priceProblem) errors.maxPrice = priceProblem;
  const units = parseWhole(form.units, 1, MAX_UNITS);
  if (units === null) errors.units = `Enter a whole number of work units from 1 to ${MAX_UNITS.toLocaleString('en')}.`;
  const replicas = parseWhole(form.replicas, 1, MAX_REPLICAS);
  if (replicas === null) errors.replicas = `Enter 1 to ${MAX_REPLICAS} replicas.`;
  const expiry = parseWhole(form.expiryMinutes, 1, MAX_EXPIRY_MINUTES);
  if (expiry === null) errors.expiryMinutes = `Enter 1 to ${MAX_EXPIRY_MINUTES.toLocaleString('en')} minutes (30 days).`;

  let tolerance: number | null = null;
  const tol = form.tolerance.trim();
  if (tol !== '') {
    const n = /^[0-9]+(\.[0-9]+)?(e-?[0-9]+)?$/i.test(tol) ? Number(tol) : NaN;
    if (!Number.isFinite(n) || n < 0 || n > MAX_TOLERANCE) errors.tolerance = 'Leave empty for bit-exact, or enter a number from 0 to 1000000.';
    else tolerance = n;
  }

  const requirements: Requirement[] = [];
  const accelerator = form.accelerator.trim();
  if (accelerator !== '') {
    if (accelerator.length > 64) errors.accelerator = 'At most 64 characters.';
    else requirements.push({ key: 'accelerator', op: 'eq', value: accelerator });
  }
  const memory = form.minMemoryGb.trim();
  if (memory !== '') {
    const n = /^[0-9]{1,6}(\.[0-9]{1,3})?$/.test(memory) ? Number(memory) : NaN;
    if (!Number.isFinite(n) || n <= 0) errors.minMemoryGb = 'Enter a number of GB, such as 24.';
    else requirements.push({ key: 'memoryGb', op: 'gte', value: n });
  }

  if (!errors.maxPrice && units !== null && replicas !== null && bidEscrow({ maxPrice: parseDoug(form.maxPrice.trim())!, units, replicas }) > MAX_AMOUNT) {
    errors.maxPrice = 'Max price × units × replicas is larger than any balance can hold.';
  }
  if (Object.keys(errors).length > 0) return { terms: null, errors };
  return {
    terms: { market: form.market, maxPrice: parseDoug(form.maxPrice.trim())!, units: units!, replicas: replicas!, expiryMs: expiry! * 60_000, tolerance, requirements },
    errors,
  };
}

// ---------------------------------------------------------------------------------------------
// Input tensors

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

/** Small inputs go inline in the bid; larger ones are uploaded first (PUT /v1/inputs). */
export function inputsTransport(tensors: readonly WireTensor[]): 'inline' | 'upload' {
  return JSON.stringify(tensors).length <= MAX_INLINE_JSON ? 'inline' : 'upload';
}

/** The example shown in the inputs hint. */
export const INPUTS_EXAMPLE = '{"x": {"dtype": "float32", "dims": [1, 4], "values": [0.5, -1, 2, 0]}}';
