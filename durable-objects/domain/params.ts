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
  /** How long an ask whose agent is gone stays suspended before the market withdraws it. */
  agentGraceMs: 5 * 60_000,
  /**
   * Work units paid (at the matched price) to each provider whose run failed the way the others'
   * did, when the job's own input is at fault (job/failure.ts): the failed-run fee.
   */
  failedRunUnits: 1,
  /**
   * What a chat completion costs per token its route processes (prompt and completion), in base
   * units: 1,000 is 0.000001 DOUG a token. Split among the route's stages by their layers.
   */
  chatTokenPrice: 1_000,
  /** The share of chat completions re-run on a disjoint route before they are settled, in basis points. */
  chatVerifyBps: 1_000,
} as const;

/**
 * What the verifier proposes to slash of a provider proven wrong (of its largest position), in
 * basis points, capped by governance's per-event bound (the staking configuration's
 * maxSlashBpsPerEvent). Apart from PROTOCOL: not a market's parameter.
 */
export const SLASH_BPS = 1_000;

/** The parameters a job is created under (recorded in its JobCreated event). */
export interface JobParams {
  feeBps: number;
  leaseMs: number;
  maxRematches: number;
  challengeWindowMs: number;
  replicaBidTtlMs: number;
  /** Absent from jobs created before it existed: read it through failedRunUnitsOf (job/failure.ts). */
  failedRunUnits: number;
}

/** A market's parameters: those its jobs are created under, and its own. */
export interface MarketParams extends JobParams {
  agentGraceMs: number;
  /** Base units per token of a chat completion (per market: the deployment's, or governance's on chain). */
  chatTokenPrice: number;
  /** Basis points of chat completions verified by a re-run (domain/chat/verification.ts). */
  chatVerifyBps: number;
}

/** The part of a market's parameters its jobs are created under. */
export function jobParams(p: MarketParams): JobParams {
  const { agentGraceMs: _market, chatTokenPrice: _chat, chatVerifyBps: _verify, ...job } = p;
  return job;
}

/** Bounds a market's parameters must stay within, whoever sets them. */
export const PARAM_BOUNDS: Record<keyof MarketParams, [min: number, max: number]> = {
  feeBps: [0, 2_000],
  leaseMs: [500, 10 * 60_000],
  maxRematches: [0, 10],
  challengeWindowMs: [1_000, 7 * 24 * 3600_000],
  replicaBidTtlMs: [1_000, 24 * 3600_000],
  agentGraceMs: [0, 7 * 24 * 3600_000],
  failedRunUnits: [0, 1_000],
  chatTokenPrice: [0, 1_000_000_000_000],
  chatVerifyBps: [0, 10_000],
};

/**
 * How old a reading of a parameter governance sets on chain (the escrow's fee, a market's parameter
 * account) may be when the Worker acts on it: a change executed on chain applies within this long.
 */
export const CHAIN_PARAMS_MAX_AGE_MS = 15_000;

/** Account that receives protocol fees (split between stakers and treasury once staking exists). */
export const FEE_POOL_ACCOUNT = 'fee-pool';
