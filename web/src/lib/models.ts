/**
 * Models this browser uploaded, remembered in localStorage so a buyer can bid again without
 * re-uploading. Models are named by their SHA-256 on the server; a remembered one is checked there
 * (GET /v1/models/:sha256) before it is offered, since stored models can age out.
 */
export const MODELS_STORAGE = 'doug.models';
export const MAX_REMEMBERED = 20;

export interface RememberedModel {
  sha256: string;
  name: string;
  bytes: number;
  /** When it was uploaded (ms since the epoch). */
  at: number;
}

const HEX64 = /^[0-9a-f]{64}$/;

function isModel(v: unknown): v is RememberedModel {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as Record<string, unknown>;
  return typeof m.sha256 === 'string' && HEX64.test(m.sha256) && typeof m.name === 'string' && Number.isSafeInteger(m.bytes) && typeof m.at === 'number';
}

/** The remembered list from its stored text; anything malformed is dropped. */
export function parseModels(text: string | null): RememberedModel[] {
  if (!text) return [];
  try {
    const parsed: unknown = JSON.parse(text);
    return Array.isArray(parsed) ? parsed.filter(isModel).slice(0, MAX_REMEMBERED) : [];
  } catch {
    return [];
  }
}

/** Adds or refreshes a model at the top of the list, keeping the newest MAX_REMEMBERED. */
export function rememberModel(list: readonly RememberedModel[], model: RememberedModel): RememberedModel[] {
  return [model, ...list.filter((m) => m.sha256 !== model.sha256)].slice(0, MAX_REMEMBERED);
}

export function forgetModels(list: readonly RememberedModel[], shas: readonly string[]): RememberedModel[] {
  return list.filter((m) => !shas.includes(m.sha256));
}

/** A storage the helpers can use: localStorage in the browser, a map in tests. */
export type KeyValueStore = Pick<Storage, 'getItem' | 'setItem'>;

export function loadModels(store: KeyValueStore | null | undefined): RememberedModel[] {
  try {
    return parseModels(store?.getItem(MODELS_STORAGE) ?? null);
  } catch {
    return [];
  }
}

export function saveModels(store: KeyValueStore | null | undefined, list: readonly RememberedModel[]): void {
  try {
    store?.setItem(MODELS_STORAGE, JSON.stringify(list));
  } catch {
    // Storage full or blocked (private mode): the list lives for this page only.
  }
}

export type ModelPresence = 'present' | 'missing' | 'unknown';

/**
 * Whether the server still has a model. The route answers the bytes, so only the headers are
 * waited for and the body is dropped. `missing` only for the API's API__UNKNOWN_MODEL; any other
 * failure (network, 5xx) is `unknown` and the model is kept.
 */
export async function modelPresence(baseUrl: string, sha256: string, fetchFn: typeof fetch = fetch): Promise<ModelPresence> {
  try {
    const res = await fetchFn(`${baseUrl.replace(/\/+$/, '')}/v1/models/${sha256}`, { headers: { accept: 'application/json, application/octet-stream' } });
    if (res.ok) {
      await res.body?.cancel().catch(() => undefined);
      return 'present';
    }
    const body = (await res.json().catch(() => null)) as { error?: { code?: string } } | null;
    return body?.error?.code === 'API__UNKNOWN_MODEL' ? 'missing' : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** SHA-256 of bytes as lowercase hex (the model's name on the server). */
export async function sha256Of(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}
