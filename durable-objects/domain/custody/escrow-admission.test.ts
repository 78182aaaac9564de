import { describe, expect, it } from 'vitest';
import { holdAdmission } from './escrow-admission.ts';

describe('holds for a buyer whose money is in an escrow', () => {
  it('are taken while the buyer has not asked to leave, or has no escrow', () => {
    expect(holdAdmission(null)).toEqual({ ok: true, value: undefined });
    expect(holdAdmission({ withdrawalRequestedAt: 0n })).toEqual({ ok: true, value: undefined });
  });
  it('are refused once the buyer asked on chain to leave, saying since when', () => {
    const r = holdAdmission({ withdrawalRequestedAt: 1_800_000_000n });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toMatchObject({ code: 'CUSTODY__ESCROW_WITHDRAWAL_REQUESTED', context: { requestedAt: '2027-01-15T08:00:00.000Z' } });
    expect(r.error.message).toContain('cancel that request');
  });
});
