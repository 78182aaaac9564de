import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ABSENT, IdTable, idHash } from './id-table.ts';

/** Ids 0..n as keys, each under two slots (2n and 2n + 1), so that a set can move an id to another slot. */
function keysFor(n: number): string[] {
  return Array.from({ length: 2 * n }, (_, s) => `order-${s >> 1}`);
}

describe('the id table', () => {
  it('answers like a Map through sets, replacements and deletes, across rebuilds', () => {
    // Few distinct ids, so that the same id is set, deleted and set again many times.
    const op = fc.tuple(fc.constantFrom('set', 'delete', 'get'), fc.integer({ min: 0, max: 300 }), fc.boolean());
    const keys = keysFor(3_001);
    fc.assert(
      fc.property(fc.array(op, { maxLength: 4_000, size: 'max' }), (ops) => {
        const table = new IdTable((slot) => keys[slot]);
        const map = new Map<string, number>();
        for (const [kind, n, other] of ops) {
          const id = `order-${n}`;
          if (kind === 'set') {
            const slot = 2 * n + (other ? 1 : 0);
            table.set(id, slot);
            map.set(id, slot);
          } else if (kind === 'delete') {
            const slot = table.get(id);
            const deleted = n % 3 === 0 ? table.deleteSlot(slot, idHash(id)) : other ? table.delete(id) : table.delete(id, idHash(id));
            expect(deleted).toBe(map.delete(id));
          } else {
            expect(table.get(id)).toBe(map.get(id) ?? ABSENT);
            expect(table.has(id)).toBe(map.has(id));
          }
          expect(table.size).toBe(map.size);
        }
        expect(new Map([...table.slots()].map((s) => [keys[s]!, s]))).toEqual(map);
      }),
      { numRuns: 40 },
    );
  });

  it('keeps ids whose hashes share a slot apart', () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => `x${i}`);
    const table = new IdTable((slot) => keys[slot]);
    // 20,000 ids in a table that starts at 1,024 entries: many share their first entry.
    for (let i = 0; i < 20_000; i++) table.set(`x${i}`, i);
    for (let i = 0; i < 20_000; i += 2) table.delete(`x${i}`);
    for (let i = 0; i < 20_000; i++) expect(table.get(`x${i}`)).toBe(i % 2 === 0 ? ABSENT : i);
    expect(table.size).toBe(10_000);
    expect([...table.slots()].length).toBe(10_000);
  });

  it('keeps every id reachable when deletes close gaps in runs that wrap past the end of the table', () => {
    // Ids whose probes start in the last four or first two entries of the 1,024-entry table: their
    // runs wrap around, and each delete moves later entries of a run back across the end.
    const ids: string[] = [];
    for (let i = 0; ids.length < 24; i++) {
      const home = idHash(`w${i}`) & 1023;
      if (home >= 1020 || home <= 1) ids.push(`w${i}`);
    }
    fc.assert(
      fc.property(fc.shuffledSubarray(ids, { minLength: 1 }), fc.shuffledSubarray(ids), (deleted, reset) => {
        const table = new IdTable((slot) => ids[slot]);
        ids.forEach((id, slot) => table.set(id, slot));
        for (const id of deleted) expect(table.delete(id)).toBe(true);
        for (const id of reset) if (deleted.includes(id)) table.set(id, ids.indexOf(id));
        ids.forEach((id, slot) => expect(table.get(id)).toBe(deleted.includes(id) && !reset.includes(id) ? ABSENT : slot));
      }),
      { numRuns: 300 },
    );
  });
});
