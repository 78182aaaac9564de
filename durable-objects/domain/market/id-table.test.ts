import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IdTable, idHash } from './id-table.ts';

describe('the id table', () => {
  it('answers like a Map through sets, replacements and deletes, across rebuilds and tombstones', () => {
    // Few distinct ids, so that the same id is set, deleted and set again many times.
    const op = fc.tuple(fc.constantFrom('set', 'delete', 'get'), fc.integer({ min: 0, max: 3_000 }), fc.integer());
    fc.assert(
      fc.property(fc.array(op, { maxLength: 4_000 }), (ops) => {
        const table = new IdTable<number>();
        const map = new Map<string, number>();
        for (const [kind, n, value] of ops) {
          const id = `order-${n}`;
          if (kind === 'set') {
            table.set(id, value);
            map.set(id, value);
          } else if (kind === 'delete') {
            expect(n % 2 === 0 ? table.delete(id) : table.delete(id, idHash(id))).toBe(map.delete(id));
          } else {
            expect(table.get(id)).toBe(map.get(id));
            expect(table.has(id)).toBe(map.has(id));
          }
          expect(table.size).toBe(map.size);
        }
        expect(new Map(table.entries())).toEqual(map);
      }),
      { numRuns: 40 },
    );
  });

  it('keeps ids whose hashes share a slot apart', () => {
    const table = new IdTable<string>();
    // 20,000 ids in a table that starts at 1,024 slots: many share their first slot.
    for (let i = 0; i < 20_000; i++) table.set(`x${i}`, `v${i}`);
    for (let i = 0; i < 20_000; i += 2) table.delete(`x${i}`);
    for (let i = 0; i < 20_000; i++) expect(table.get(`x${i}`)).toBe(i % 2 === 0 ? undefined : `v${i}`);
    expect(table.size).toBe(10_000);
    expect([...table.keys()].length).toBe(10_000);
  });
});
