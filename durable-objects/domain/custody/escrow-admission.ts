import { makeError } from '../define-errors.ts';
import { ok, fail, type Result } from '../result.ts';
import { CUSTODY_ERRORS } from './errors.ts';

/** How stale a reading of a buyer's escrow may be when the marketplace decides on a new hold. */
export const ESCROW_READING_MAX_AGE_MS = 5_000;

/**
 * Whether the marketplace takes a new hold (a bid, a challenge) for a buyer whose money is in an
 * escrow, given the escrow as last read (null: the buyer has none). A buyer who asked on chain to
 * leave gets no new holds until the request is cancelled; the holds of running jobs stay, and
 * their payouts are settled as usual.
 */
export function holdAdmission(escrow: { withdrawalRequestedAt: bigint } | null): Result<void> {
  if (escrow === null || escrow.withdrawalRequestedAt === 0n) return ok(undefined);
  const requestedAt = new Date(Number(escrow.withdrawalRequestedAt) * 1000).toISOString();
  return fail(makeError(CUSTODY_ERRORS, 'CUSTODY__ESCROW_WITHDRAWAL_REQUESTED', { requestedAt }));
}
