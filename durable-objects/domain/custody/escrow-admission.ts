import { makeError } from '../define-errors.ts';
import type { Amount } from '../money.ts';
import { ok, fail, type Result } from '../result.ts';
import { CUSTODY_ERRORS } from './errors.ts';

/** How stale a reading of a buyer's escrow may be when the marketplace decides on a new hold. */
export const ESCROW_READING_MAX_AGE_MS = 5_000;

/** What a new hold commits of the escrow: its amount, on top of what the ledger holds already and the payouts not yet paid. */
export interface HoldNeed {
  amount: Amount;
  held: Amount;
  pending: Amount;
}

/**
 * Whether the marketplace takes a new hold (a bid, a challenge) for a buyer whose money is in an
 * escrow, given the escrow as last read (null: the buyer has none). A buyer who asked on chain to
 * leave gets no new holds until the request is cancelled; the holds of running jobs stay, and
 * their payouts are settled as usual. And the escrow must hold the new hold on top of what is held
 * already and the payouts on their way: money the buyer took out alone (before the ledger followed)
 * is never held again, so no provider works for a payout the escrow cannot make.
 */
export function holdAdmission(escrow: { withdrawalRequestedAt: bigint; balance: Amount } | null, need: HoldNeed): Result<void> {
  if (escrow === null) return ok(undefined);
  if (escrow.withdrawalRequestedAt !== 0n) {
    const requestedAt = new Date(Number(escrow.withdrawalRequestedAt) * 1000).toISOString();
    return fail(makeError(CUSTODY_ERRORS, 'CUSTODY__ESCROW_WITHDRAWAL_REQUESTED', { requestedAt }));
  }
  const committed = need.held + need.pending;
  if (escrow.balance < committed + need.amount) {
    return fail(makeError(CUSTODY_ERRORS, 'CUSTODY__ESCROW_SHORT', { balance: escrow.balance, committed, required: need.amount }));
  }
  return ok(undefined);
}
