import type { Amount } from './money.ts';

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
