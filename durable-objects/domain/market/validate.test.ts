import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_AMOUNT } from '../money.ts';
import { LIMITS, bidEscrow, validateBid } from './validate.ts';
import { NOW, bid } from '../../../test/support/market-builders.ts';

/** The rule a spec digest follows, as it was first written. */
const SHA256 = /^[0-9a-f]{64}$/;

describe('a bid spec digest', () => {
  it('is accepted exactly when it is 64 lowercase hex characters, for the model and the input alike', () => {
    // Characters on both sides of each accepted range, and lengths around 64.
    const char = fc.constantFrom(...'/0189:`afgAF '.split(''), '\u0130', '\u0660');
    const hex = fc.array(fc.constantFrom(...'0123456789abcdef'.split('')), { minLength: 64, maxLength: 64 }).map((cs) => cs.join(''));
    const digest = fc.oneof(
      // A digest with one character swapped for one near (or in) the accepted ranges.
      fc.tuple(hex, fc.nat({ max: 63 }), char).map(([h, at, c]) => h.slice(0, at) + c + h.slice(at + 1)),
      fc.array(fc.constantFrom(...'0123456789abcdef'.split('')), { minLength: 62, maxLength: 66 }).map((cs) => cs.join('')),
      fc.constantFrom(null, 7, undefined, ['a'.repeat(64)]),
    );
    fc.assert(
      fc.property(digest, fc.constantFrom('modelSha256', 'inputSha256'), (value, field) => {
        const spec = { ...bid().spec, [field]: value };
        const error = validateBid(bid({ spec: spec as never }), NOW);
        const valid = typeof value === 'string' && SHA256.test(value);
        expect(error?.code).toBe(valid ? undefined : 'MARKET__INVALID_SPEC');
        if (!valid) expect(error?.context).toMatchObject({ field });
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('a bid spec digest checked again', () => {
  it('is judged by the rule alone, whatever digests were accepted before (the same string, an equal copy, or one differing in one character)', () => {
    const a = 'ab'.repeat(32);
    const b = '0f'.repeat(32);
    // Copies built at run time (not the same string objects), and near misses of accepted digests.
    const pool = [a, b, [...a].join(''), a.slice(0, 63) + 'g', a.slice(0, 63) + 'A', 'g' + b.slice(1), b.slice(0, 63), `${b}0`];
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat({ max: pool.length - 1 }), fc.nat({ max: pool.length - 1 })), { minLength: 1, maxLength: 30 }), (picks) => {
        for (const [m, i] of picks) {
          const spec = { ...bid().spec, modelSha256: pool[m]!, inputSha256: pool[i]! };
          const valid = SHA256.test(pool[m]!) && SHA256.test(pool[i]!);
          expect(validateBid(bid({ spec }), NOW)?.code).toBe(valid ? undefined : 'MARKET__INVALID_SPEC');
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('a bid escrow', () => {
  it('is refused exactly when maxPrice x units x replicas exceeds the largest amount', () => {
    const edge = MAX_AMOUNT / BigInt(LIMITS.units.max * LIMITS.replicas.max);
    const maxPrice = fc.oneof(fc.bigInt({ min: edge - 3n, max: edge + 3n }), fc.bigInt({ min: 1n, max: MAX_AMOUNT }), fc.constantFrom(MAX_AMOUNT / 7n, MAX_AMOUNT / 7n + 1n));
    const units = fc.oneof(fc.integer({ min: LIMITS.units.min, max: LIMITS.units.max }), fc.constant(LIMITS.units.max), fc.constant(7));
    const replicas = fc.integer({ min: LIMITS.replicas.min, max: LIMITS.replicas.max });
    fc.assert(
      fc.property(maxPrice, units, replicas, (p, u, r) => {
        const error = validateBid(bid({ maxPrice: p, units: u, replicas: r }), NOW);
        expect(error?.code).toBe(bidEscrow({ maxPrice: p, units: u, replicas: r }) > MAX_AMOUNT ? 'MARKET__ESCROW_OVERFLOW' : undefined);
      }),
      { numRuns: 2_000 },
    );
  });
});
