import { describe, expect, it } from 'vitest';
import { reputationScore, reputationScoreSql } from './reputation.ts';

describe("a provider's reputation", () => {
  it('counts each paid replica once and each lapse or rejection as five', () => {
    expect(reputationScore({ completed: 10, lapsed: 0, rejected: 0 })).toBe(10);
    expect(reputationScore({ completed: 10, lapsed: 1, rejected: 0 })).toBe(5);
    expect(reputationScore({ completed: 10, lapsed: 0, rejected: 1 })).toBe(5);
    expect(reputationScore({ completed: 0, lapsed: 1, rejected: 1 })).toBe(-10);
  });
  it('reads the same as a SQL expression as in code', () => {
    // The expression is plain arithmetic: with the columns replaced by numbers it evaluates alike in SQL and here.
    for (const r of [
      { completed: 10, lapsed: 1, rejected: 0 },
      { completed: 3, lapsed: 0, rejected: 0 },
      { completed: 20, lapsed: 0, rejected: 4 },
      { completed: 0, lapsed: 2, rejected: 0 },
    ]) {
      const sql = reputationScoreSql((f) => String(r[f]));
      expect(sql).toMatch(/^[-0-9()*+ ]+$/);
      expect(new Function(`return ${sql}`)()).toBe(reputationScore(r));
    }
  });
});
