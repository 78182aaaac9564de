import { CUSTODY_ERRORS } from './custody/errors.ts';
import { makeError } from './define-errors.ts';
import type { Amount } from './money.ts';
import { fail, ok, type Result } from './result.ts';

/**
 * Provider collateral: a provider's asks are admitted only while its staked $DOUG (positions not
 * unstaked, as the staking program holds them) is at least the staking configuration's minimum.
 * What a reader saw is used only while it is younger than COLLATERAL_MAX_AGE_MS.
 */
export interface ProviderStake {
  /** The sum of the provider's positions that are still staked (unstaked ones are leaving). */
  staked: Amount;
  /** The configuration's minProviderStake. */
  minimum: Amount;
}

/** How old a reading of a provider's stake may be when an ask is admitted on it. */
export const COLLATERAL_MAX_AGE_MS = 30_000;

/** How much stake the provider lacks for its asks to be admitted (0n: none). */
export function stakeShortfall(s: ProviderStake): Amount {
  return s.staked >= s.minimum ? 0n : s.minimum - s.staked;
}

/** Whether `provider`'s asks are admitted on this reading of its stake; the refusal says how much is missing. */
export function askAdmission(provider: string, s: ProviderStake): Result<void> {
  const shortfall = stakeShortfall(s);
  if (shortfall === 0n) return ok(undefined);
  return fail(makeError(CUSTODY_ERRORS, 'CUSTODY__STAKE_BELOW_MINIMUM', { provider, staked: s.staked, minimum: s.minimum, shortfall }));
}
