import { describe, expect, it } from 'vitest';
import { bidEscrow } from './validate.ts';

describe("a bid's escrow", () => {
  it('is max price × units × replicas, exact in base units', () => {
    expect(bidEscrow({ maxPrice: 2_000_000n, units: 1, replicas: 2 })).toBe(4_000_000n);
    expect(bidEscrow({ maxPrice: 1n, units: 1_000_000, replicas: 5 })).toBe(5_000_000n);
    expect(bidEscrow({ maxPrice: 123_456_789_123_456_789n, units: 3, replicas: 1 })).toBe(370_370_367_370_370_367n);
  });
  it('grows with each factor alone (no factor is left out)', () => {
    const base = bidEscrow({ maxPrice: 7n, units: 3, replicas: 2 });
    expect(bidEscrow({ maxPrice: 14n, units: 3, replicas: 2 })).toBe(2n * base);
    expect(bidEscrow({ maxPrice: 7n, units: 6, replicas: 2 })).toBe(2n * base);
    expect(bidEscrow({ maxPrice: 7n, units: 3, replicas: 4 })).toBe(2n * base);
  });
});
