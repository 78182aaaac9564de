/** $DOUG amounts in base units (9 decimals). Always bigint; JSON carries them as decimal strings. */
export type Amount = bigint;

export const DECIMALS = 9;
export const UNITS_PER_DOUG = 10n ** 9n;
/** SPL token amounts are u64: nothing in the ledger may exceed this. */
export const MAX_AMOUNT = 2n ** 64n - 1n;

export const DECIMAL_STRING = /^(0|[1-9][0-9]{0,19})$/;

/** Parses a non-negative integer amount given as a decimal string; null when malformed or out of range. */
export function parseAmount(value: unknown): Amount | null {
  if (typeof value !== 'string' || !DECIMAL_STRING.test(value)) return null;
  const amount = BigInt(value);
  return amount <= MAX_AMOUNT ? amount : null;
}

/** Formats base units as DOUG with up to 9 decimals, trailing zeros trimmed ("1.5", "0.000000001"). */
export function formatDoug(amount: Amount): string {
  const negative = amount < 0n;
  const abs = negative ? -amount : amount;
  const whole = abs / UNITS_PER_DOUG;
  const frac = (abs % UNITS_PER_DOUG).toString().padStart(DECIMALS, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${frac ? '.' + frac : ''}`;
}

/** Parses "1.5" DOUG into base units; null when malformed, negative, over 9 decimals or out of range. */
export function parseDoug(value: string): Amount | null {
  const m = /^(0|[1-9][0-9]*)(?:\.([0-9]{1,9}))?$/.exec(value);
  if (!m) return null;
  const amount = BigInt(m[1]!) * UNITS_PER_DOUG + BigInt((m[2] ?? '').padEnd(DECIMALS, '0'));
  return amount <= MAX_AMOUNT ? amount : null;
}

/** Basis-point share of an amount, rounded down (the remainder stays with the payee). */
export function bps(amount: Amount, basisPoints: number): Amount {
  return (amount * BigInt(basisPoints)) / 10_000n;
}
