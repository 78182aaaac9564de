import { describe, expect, it } from 'vitest';
import { holdAdmission } from './escrow-admission.ts';

const none = { amount: 0n, held: 0n, pending: 0n };
const escrow = (balance: bigint, withdrawalRequestedAt = 0n) => ({ balance, withdrawalRequestedAt });

describe('holds for a buyer whose money is in an escrow', () => {
  it('are taken while the buyer has not asked to leave, or has no escrow', () => {
    expect(holdAdmission(null, { amount: 5n, held: 0n, pending: 0n })).toEqual({ ok: true, value: undefined });
    expect(holdAdmission(escrow(0n), none)).toEqual({ ok: true, value: undefined });
  });
  it('are refused once the buyer asked on chain to leave, saying since when', () => {
    const r = holdAdmission(escrow(100n, 1_800_000_000n), none);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toMatchObject({ code: 'CUSTODY__ESCROW_WITHDRAWAL_REQUESTED', context: { requestedAt: '2027-01-15T08:00:00.000Z' } });
    expect(r.error.message).toContain('cancel that request');
  });
  it('need the escrow to hold the new hold on top of what is held and the payouts on their way', () => {
    expect(holdAdmission(escrow(100n), { amount: 40n, held: 35n, pending: 25n })).toEqual({ ok: true, value: undefined });
    const r = holdAdmission(escrow(99n), { amount: 40n, held: 35n, pending: 25n });
    expect(r.ok ? null : r.error).toMatchObject({ code: 'CUSTODY__ESCROW_SHORT', context: { balance: 99n, committed: 60n, required: 40n } });
    // Pending payouts count: without them the same escrow would pass.
    expect(holdAdmission(escrow(99n), { amount: 40n, held: 35n, pending: 0n }).ok).toBe(true);
    expect(holdAdmission(escrow(99n), { amount: 40n, held: 0n, pending: 25n }).ok).toBe(true);
  });
});
