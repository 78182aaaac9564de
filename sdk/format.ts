import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatDoug, parseAmount, parseDoug } from '../durable-objects/domain/money.ts';

/** Pure conversions and layout for the CLI: DOUG amounts, durations, tables. */

/** A command line that cannot be acted on; the CLI exits 2. */
export class UsageError extends Error {
  readonly code = 'CLI__USAGE';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Parses a human DOUG amount ("0.25") into base units, exactly; UsageError names the flag. */
export function dougArg(name: string, value: string): bigint {
  const amount = parseDoug(value);
  if (amount === null) throw new UsageError(`${name}: ${JSON.stringify(value)} is not a DOUG amount (a plain decimal with up to 9 places, e.g. 0.25)`);
  return amount;
}

/** Parses a whole number at least `min`. */
export function intArg(name: string, value: string, min = 0): number {
  const n = /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`${name}: ${JSON.stringify(value)} is not a whole number ≥ ${min}`);
  return n;
}

/** Parses a finite non-negative decimal. */
export function numberArg(name: string, value: string): number {
  const n = /^[0-9]+(\.[0-9]+)?(e-?[0-9]+)?$/i.test(value) ? Number(value) : NaN;
  if (!Number.isFinite(n)) throw new UsageError(`${name}: ${JSON.stringify(value)} is not a non-negative number`);
  return n;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses a duration such as 90s, 10m, 1h, 2d into ms. */
export function durationArg(name: string, value: string): number {
  const m = /^([0-9]+)(ms|s|m|h|d)$/.exec(value);
  const ms = m ? Number(m[1]) * (DURATION_UNITS[m[2]!] ?? NaN) : NaN;
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new UsageError(`${name}: ${JSON.stringify(value)} is not a duration (e.g. 90s, 10m, 1h, 2d)`);
  return ms;
}

/** Parses a 64-digit hex SHA-256, returned in lower case. */
export function sha256Arg(name: string, value: string): string {
  if (!/^[0-9a-fA-F]{64}$/.test(value)) throw new UsageError(`${name}: expected 64 hex digits (a SHA-256)`);
  return value.toLowerCase();
}

/** An attribute value: a number when it reads as one, else the text. */
export function attributeValue(text: string): string | number {
  return /^-?[0-9]+(\.[0-9]+)?$/.test(text) && Number.isFinite(Number(text)) ? Number(text) : text;
}

/** Formats a base-unit amount string as DOUG; '-' for null, the raw text when malformed. */
export function doug(value: unknown): string {
  if (value === null || value === undefined) return '-';
  const amount = typeof value === 'bigint' ? value : parseAmount(value);
  return amount === null ? String(value) : formatDoug(amount);
}

/** Formats ms since the epoch as ISO time; '-' when absent. */
export function time(value: unknown): string {
  return typeof value === 'number' && Number.isFinite(value) ? new Date(value).toISOString() : '-';
}

/** Any value as one short cell. */
export function cell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return JSON.stringify(value);
}

/** Left-aligned columns with two spaces between; columns listed in `right` are right-aligned. */
export function table(headers: string[], rows: string[][], o: { right?: number[] } = {}): string {
  const right = new Set(o.right ?? []);
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    widths
      .map((w, i) => {
        const c = r[i] ?? '';
        return right.has(i) ? c.padStart(w) : c.padEnd(w);
      })
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** Aligned `key  value` lines. */
export function keyValues(pairs: [string, string][]): string {
  const width = Math.max(0, ...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${(k + ':').padEnd(width + 1)}  ${v}`).join('\n') + '\n';
}

/** How a command-line flag takes values. */
export type FlagKind = 'string' | 'boolean' | 'list';
export type FlagValue = string | boolean | string[];

/**
 * Stores one flag in `flags`: a boolean takes no value; others take `--name=value` or the next
 * argument; a list collects repeats, a string refuses them. Returns the index of the last argument
 * consumed. Shared by the `doug` and `doug-agent` command lines.
 */
export function takeFlag(argv: readonly string[], i: number, name: string, kind: FlagKind, inline: string | undefined, flags: Record<string, FlagValue>): number {
  if (kind === 'boolean') {
    if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
    flags[name] = true;
    return i;
  }
  let value = inline;
  if (value === undefined) {
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) throw new UsageError(`--${name} needs a value`);
    value = next;
    i++;
  }
  if (kind === 'list') {
    const prev = flags[name];
    flags[name] = [...(Array.isArray(prev) ? prev : []), value];
  } else {
    if (flags[name] !== undefined) throw new UsageError(`--${name} is given twice`);
    flags[name] = value;
  }
  return i;
}

/** Whether the module at `moduleUrl` is the script node was started with (a CLI's entry check). */
export function isEntryModule(moduleUrl: string): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}
