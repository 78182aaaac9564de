/**
 * Protocol parameters in force until governance (staking issue) makes them votable. Each job
 * records the values it was created under, so changing them never rewrites history.
 */
export const PROTOCOL = {
  /** Fee taken from each provider payout, in basis points. */
  feeBps: 250,
  /** How long a lease lives without a heartbeat. */
  leaseMs: 30_000,
  /** How many times one replica may be re-matched after lapsed leases before the job is refunded. */
  maxRematches: 3,
  /** Window in which a buyer may challenge a single-replica result. */
  challengeWindowMs: 10 * 60_000,
  /** How long a re-match or tie-breaker bid rests in the market before the job gives up. */
  replicaBidTtlMs: 5 * 60_000,
} as const;

/** Account that receives protocol fees (split between stakers and treasury once staking exists). */
export const FEE_POOL_ACCOUNT = 'fee-pool';
