import { DECIMALS, formatDoug, parseAmount, parseDoug, UNITS_PER_DOUG, type Amount } from '$domain/money.ts';

/**
 * How the portal shows numbers. Amounts stay exact bigint base units underneath; only the text is
 * rounded, and `exactDoug` gives the full value for a tooltip.
 */

/** An amount from the wire (decimal string of base units) or a bigint; null when malformed. */
export function toUnits(value: Amount | string | null | undefined): Amount | null {
  if (typeof value === 'bigint') return value;
  return parseAmount(value);
}

function group(whole: string): string {
  return whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/**
 * DOUG with sensible precision: up to `decimals` (default 4) places, rounded half up, trailing
 * zeros trimmed, thousands grouped. Amounts too small for that precision get just enough places to
 * show their first two significant digits ("0.0000012"), so a non-zero price never reads as 0.
 */
export function doug(value: Amount | string | null | undefined, o: { decimals?: number } = {}): string {
  const units = toUnits(value);
  if (units === null) return '—';
  const negative = units < 0n;
  const abs = negative ? -units : units;
  let places = Math.min(Math.max(o.decimals ?? 4, 0), DECIMALS);
  if (abs > 0n && abs < 10n ** BigInt(DECIMALS - places)) {
    // Two significant digits of a small amount.
    const digits = abs.toString().length;
    places = Math.min(DECIMALS, DECIMALS - digits + 2);
  }
  const step = 10n ** BigInt(DECIMALS - places);
  const rounded = ((abs + step / 2n) / step) * step;
  const whole = rounded / UNITS_PER_DOUG;
  const frac = (rounded % UNITS_PER_DOUG).toString().padStart(DECIMALS, '0').slice(0, places).replace(/0+$/, '');
  return `${negative ? '-' : ''}${group(whole.toString())}${frac ? '.' + frac : ''}`;
}

/** Every digit: "1.000000001". */
export function exactDoug(value: Amount | string | null | undefined): string {
  const units = toUnits(value);
  return units === null ? '—' : formatDoug(units);
}

/** A form's amount in DOUG, or what is wrong with it; what it may be above 0 is for the caller (`example` shows the format). */
export function amountInput(text: string, example: string): { ok: true; amount: bigint } | { ok: false; error: string } {
  const t = text.trim();
  if (t === '') return { ok: false, error: 'Enter an amount in DOUG.' };
  const amount = parseDoug(t);
  if (amount === null) return { ok: false, error: `A plain decimal in DOUG with up to 9 places, e.g. ${example}.` };
  if (amount < 1n) return { ok: false, error: 'The amount must be more than 0.' };
  return { ok: true, amount };
}

/** A public key shortened for tables: "7xKX…p9Qw". */
export function shortKey(key: string | null | undefined, keep = 4): string {
  if (!key) return '—';
  return key.length <= keep * 2 + 1 ? key : `${key.slice(0, keep)}…${key.slice(-keep)}`;
}

/** "12 s ago", "5 min ago", "3 h ago", "2 d ago"; "in 5 min" for the future. */
export function relativeTime(at: number, now: number): string {
  const diff = Math.round((now - at) / 1000);
  const abs = Math.abs(diff);
  const text = abs < 60 ? `${abs} s` : abs < 3600 ? `${Math.floor(abs / 60)} min` : abs < 86_400 ? `${Math.floor(abs / 3600)} h` : `${Math.floor(abs / 86_400)} d`;
  return diff >= 0 ? `${text} ago` : `in ${text}`;
}

/** A timestamp as local date and time to the second. */
export function dateTime(at: number | null | undefined): string {
  if (typeof at !== 'number' || !Number.isFinite(at)) return '—';
  return new Date(at).toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** Bytes as "1.2 MB". */
export function bytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '—';
  const units = ['B', 'kB', 'MB', 'GB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** Money an account or custody error's context carries in base units, in the order shown. */
const MONEY_FIELDS = ['required', 'available', 'amount', 'balance', 'limit'] as const;

/**
 * The amounts of an API error, in DOUG, for the line under its message: the server's message
 * speaks in base units ("2500000000 is needed but only 0 is available"), which no one should have
 * to divide by 10^9. Only account and custody errors: elsewhere `amount` or `limit` is not money.
 */
export function moneyContext(code: string, context: Record<string, unknown>): string | null {
  if (!code.startsWith('ACCOUNT__') && !code.startsWith('CUSTODY__')) return null;
  const parts: string[] = [];
  for (const field of MONEY_FIELDS) {
    const units = typeof context[field] === 'string' ? toUnits(context[field] as string) : null;
    if (units !== null) parts.push(`${field} ${doug(units)} DOUG`);
  }
  return parts.length > 0 ? parts.join(' · ') : null;
}
