import type { Requirement } from '$contracts/api.ts';
import type { WireTensor } from '$contracts/tensors.ts';
import { MAX_INPUT_BYTES, MAX_TENSORS } from '$contracts/tensor-json.ts';
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
/** Inline inputs travel inside the signed bid, whose body may not exceed 64 KiB; leave room for the rest. */
export const MAX_INLINE_JSON = 48 * 1024;

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

/** Reading tensors (wire or plain form) is the contracts' (tensor-json.ts), shared with the CLI. */
export { encodeValues, parseInputs, type InputsResult } from '$contracts/tensor-json.ts';
export { MAX_INPUT_BYTES, MAX_TENSORS };

/** Small inputs go inline in the bid; larger ones are uploaded first (PUT /v1/inputs). */
export function inputsTransport(tensors: readonly WireTensor[]): 'inline' | 'upload' {
  return JSON.stringify(tensors).length <= MAX_INLINE_JSON ? 'inline' : 'upload';
}

/** The example shown in the inputs hint. */
export const INPUTS_EXAMPLE = '{"x": {"dtype": "float32", "dims": [1, 4], "values": [0.5, -1, 2, 0]}}';
