import type { AskFilters } from '$sdk/client.ts';
import type { OrderView } from '$contracts/api.ts';
import { parseAmount, parseDoug, type Amount } from '$domain/money.ts';

/**
 * The offers page's filter and sort state: what the inputs hold, how it reads from and writes to the
 * URL query (so a filtered view can be linked), and the `GET /v1/asks` filters it stands for.
 */

export type OfferSort = 'price' | '-price' | 'newest' | 'memory' | 'reputation';

export const OFFER_SORTS: readonly { value: OfferSort; label: string }[] = [
  { value: 'price', label: 'Price: lowest first' },
  { value: '-price', label: 'Price: highest first' },
  { value: 'memory', label: 'Memory: most first' },
  { value: 'reputation', label: 'Reputation: best first' },
  { value: 'newest', label: 'Newest first' },
];

/** The inputs as typed (strings); the max price is in DOUG. */
export interface OfferForm {
  market: string;
  accelerator: string;
  region: string;
  minMemory: string;
  maxPrice: string;
  minCompleted: string;
  sort: OfferSort;
}

export type OfferField = Exclude<keyof OfferForm, 'sort'>;

export const EMPTY_OFFER_FORM: OfferForm = { market: '', accelerator: '', region: '', minMemory: '', maxPrice: '', minCompleted: '', sort: 'price' };

/** URL query key of each input. */
const KEYS: readonly (keyof OfferForm)[] = ['market', 'accelerator', 'region', 'minMemory', 'maxPrice', 'minCompleted', 'sort'];

const isSort = (v: string | null): v is OfferSort => OFFER_SORTS.some((s) => s.value === v);

/** The form a URL query describes; unknown keys are ignored, an unknown sort becomes the default. */
export function formFromQuery(params: URLSearchParams): OfferForm {
  const form: OfferForm = { ...EMPTY_OFFER_FORM };
  for (const key of KEYS) {
    const v = params.get(key);
    if (v === null) continue;
    if (key === 'sort') {
      if (isSort(v)) form.sort = v;
    } else {
      form[key] = v.trim();
    }
  }
  return form;
}

/** The URL query of a form ("" when nothing is set): trimmed values, empty ones and the default sort left out. */
export function queryFromForm(form: OfferForm): string {
  const params = new URLSearchParams();
  for (const key of KEYS) {
    const v = form[key].trim();
    if (v === '' || (key === 'sort' && v === EMPTY_OFFER_FORM.sort)) continue;
    params.set(key, v);
  }
  const s = params.toString();
  return s ? `?${s}` : '';
}

/** `GET /v1/asks` filters: the SDK's, plus the reputation filter and sort the server also accepts. */
export type OfferApiFilters = Omit<AskFilters, 'sort'> & { sort?: OfferSort; minCompleted?: number };

export type OfferFilters = { ok: true; filters: OfferApiFilters } | { ok: false; errors: Partial<Record<OfferField, string>> };

const MEMORY = /^[0-9]{1,6}(\.[0-9]{1,3})?$/;
const COUNT = /^[0-9]{1,9}$/;

/** The API filters of a form, or what is wrong with each input (checked as the server checks them). */
export function offerFilters(form: OfferForm): OfferFilters {
  const errors: Partial<Record<OfferField, string>> = {};
  const filters: OfferApiFilters = { sort: form.sort };
  const text = (v: string): string => v.trim();
  if (text(form.market)) filters.market = text(form.market);
  for (const field of ['accelerator', 'region'] as const) {
    const v = text(form[field]);
    if (v.length > 64) errors[field] = 'At most 64 characters.';
    else if (v) filters[field] = v;
  }
  const memory = text(form.minMemory);
  if (memory) {
    if (MEMORY.test(memory)) filters.minMemoryGb = Number(memory);
    else errors.minMemory = 'A number of GB, e.g. 24 or 40.5.';
  }
  const price = text(form.maxPrice);
  if (price) {
    const units = parseDoug(price);
    if (units === null) errors.maxPrice = 'An amount in DOUG with up to 9 decimals, e.g. 0.015.';
    else filters.maxPrice = units.toString();
  }
  const completed = text(form.minCompleted);
  if (completed) {
    if (COUNT.test(completed)) filters.minCompleted = Number(completed);
    else errors.minCompleted = 'A whole number of jobs.';
  }
  return Object.keys(errors).length > 0 ? { ok: false, errors } : { ok: true, filters };
}

/** An ask as the offers table shows it, read defensively from the wire's open-ended order view. */
export interface OfferRow {
  id: string;
  market: string;
  owner: string;
  price: Amount | null;
  capacity: number | null;
  freeSlots: number | null;
  accelerator: string | null;
  memoryGb: number | null;
  region: string | null;
  fingerprint: string | null;
  reputation: { completed: number; lapsed: number; rejected: number } | null;
  expiresAt: number | null;
  createdAt: number | null;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const record = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

export function offerRow(order: OrderView): OfferRow {
  const attributes = record(order.attributes);
  const capacity = num(order.capacity);
  const inUse = num(order.slotsInUse);
  const rep = record(order.reputation);
  const completed = num(rep.completed);
  const lapsed = num(rep.lapsed);
  const rejected = num(rep.rejected);
  return {
    id: order.id,
    market: order.market,
    owner: order.owner,
    price: parseAmount(order.price),
    capacity,
    freeSlots: capacity !== null && inUse !== null ? Math.max(0, capacity - inUse) : null,
    accelerator: str(attributes.accelerator),
    memoryGb: num(attributes.memoryGb),
    region: str(attributes.region),
    fingerprint: str(attributes.fingerprint),
    reputation: completed !== null && lapsed !== null && rejected !== null ? { completed, lapsed, rejected } : null,
    expiresAt: num(order.expiresAt),
    createdAt: num(order.createdAt),
  };
}

/** "ort-1.30.0/cpu/linux/x64/aaf7943554e513f8" → "cpu …aaf794" (the execution provider and the hash); short ones as they are. */
export function shortFingerprint(fp: string | null): string {
  if (!fp) return '—';
  if (fp.length <= 16) return fp;
  const parts = fp.split('/');
  if (parts.length >= 3) return `${parts[1]} …${parts[parts.length - 1]!.slice(0, 6)}`;
  return `${fp.slice(0, 12)}…${fp.slice(-6)}`;
}

/** Distinct non-empty values, sorted, for an input's suggestions. */
export function suggestions(values: Iterable<string | null>): string[] {
  const set = new Set<string>();
  for (const v of values) if (v) set.add(v);
  return [...set].sort((a, b) => a.localeCompare(b));
}
