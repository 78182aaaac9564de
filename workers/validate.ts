import { MAX_AMOUNT, parseAmount } from '../durable-objects/domain/money.ts';
import { refuse } from './http.ts';

/**
 * Field readers for request bodies and queries. Each either returns a well-typed value or throws
 * API__INVALID_INPUT naming the field and the problem. Unknown fields are refused, so a typo never
 * silently drops an intent.
 */
export class Fields {
  constructor(
    private readonly source: Record<string, unknown>,
    private readonly prefix = '',
  ) {}

  private bad(field: string, problem: string): never {
    return refuse('API__INVALID_INPUT', { field: this.prefix + field, problem });
  }

  /** Refuses any field not in the list. */
  only(...allowed: string[]): this {
    for (const key of Object.keys(this.source)) if (!allowed.includes(key)) this.bad(key, 'is not a known field');
    return this;
  }

  has(field: string): boolean {
    return this.source[field] !== undefined;
  }

  string(field: string, o: { pattern?: RegExp; max?: number; optional?: boolean } = {}): string {
    const v = this.source[field];
    if (v === undefined && o.optional) return '';
    if (typeof v !== 'string') return this.bad(field, 'must be a string');
    if (v.length === 0) return this.bad(field, 'must not be empty');
    if (v.length > (o.max ?? 256)) return this.bad(field, `must be at most ${o.max ?? 256} characters`);
    if (o.pattern && !o.pattern.test(v)) return this.bad(field, `must match ${o.pattern.source}`);
    return v;
  }

  integer(field: string, o: { min: number; max: number; optional?: boolean; fallback?: number }): number {
    const v = this.source[field];
    if (v === undefined && o.optional) return o.fallback ?? o.min;
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) return this.bad(field, 'must be an integer');
    if (v < o.min || v > o.max) return this.bad(field, `must be between ${o.min} and ${o.max}`);
    return v;
  }

  /** An integer given in a query string. */
  queryInteger(field: string, o: { min: number; max: number; fallback: number }): number {
    const v = this.source[field];
    if (v === undefined) return o.fallback;
    if (typeof v !== 'string' || !/^-?[0-9]{1,16}$/.test(v)) return this.bad(field, 'must be an integer');
    const n = Number(v);
    if (n < o.min || n > o.max) return this.bad(field, `must be between ${o.min} and ${o.max}`);
    return n;
  }

  number(field: string, o: { min: number; max: number; nullable?: boolean }): number | null {
    const v = this.source[field];
    if (v === null && o.nullable) return null;
    if (typeof v !== 'number' || !Number.isFinite(v)) return this.bad(field, o.nullable ? 'must be a number or null' : 'must be a number');
    if (v < o.min || v > o.max) return this.bad(field, `must be between ${o.min} and ${o.max}`);
    return v;
  }

  boolean(field: string, o: { optional?: boolean } = {}): boolean {
    const v = this.source[field];
    if (v === undefined && o.optional) return false;
    if (typeof v !== 'boolean') return this.bad(field, 'must be true or false');
    return v;
  }

  /** A $DOUG amount in base units, as a decimal string (numbers lose precision and are refused). */
  amount(field: string, o: { min?: bigint; max?: bigint } = {}): bigint {
    const v = this.source[field];
    if (typeof v === 'number') return this.bad(field, 'must be a decimal string of base units, not a number');
    const a = parseAmount(v);
    if (a === null) return this.bad(field, `must be a decimal string of base units between 0 and ${MAX_AMOUNT}`);
    if (a < (o.min ?? 1n)) return this.bad(field, `must be at least ${o.min ?? 1n}`);
    if (o.max !== undefined && a > o.max) return this.bad(field, `must be at most ${o.max}`);
    return a;
  }

  object(field: string): Fields {
    const v = this.source[field];
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return this.bad(field, 'must be an object');
    return new Fields(v as Record<string, unknown>, `${this.prefix}${field}.`);
  }

  raw(field: string): unknown {
    return this.source[field];
  }

  array(field: string, o: { max: number }): unknown[] {
    const v = this.source[field];
    if (!Array.isArray(v)) return this.bad(field, 'must be an array');
    if (v.length > o.max) return this.bad(field, `must have at most ${o.max} items`);
    return v;
  }
}

export const HEX64 = /^[0-9a-f]{64}$/;
