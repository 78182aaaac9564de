/**
 * Canonical JSON: object keys sorted, bigints as decimal strings, no whitespace. Used for state
 * hashes and for event data in the log, so the same value always has the same bytes.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(normalise(value));
}

function normalise(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(normalise);
  if (value instanceof Map) return normalise(Object.fromEntries(value));
  if (value instanceof Set) return normalise([...value]);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = normalise(v);
    }
    return out;
  }
  return value;
}

/** JSON.stringify that writes bigints as decimal strings (key order as given: fast path for the log). */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
}

/**
 * Parses JSON written by toJson, turning the named fields back into bigints. Each aggregate lists
 * its money fields; a field of that name anywhere in the document is revived.
 */
export function fromJson<T>(text: string, bigintFields: ReadonlySet<string>): T {
  return JSON.parse(text, (k, v) => (typeof v === 'string' && bigintFields.has(k) && /^-?[0-9]+$/.test(v) ? BigInt(v) : v)) as T;
}
