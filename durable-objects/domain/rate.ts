/**
 * A token bucket: `burst` tokens at most, refilled at `perSecond`; each allowed action takes one.
 * Pure: the caller keeps the bucket (in memory: a limit need not survive a restart).
 */
export interface Bucket {
  tokens: number;
  /** When `tokens` was counted (ms). */
  at: number;
}

export interface Rate {
  perSecond: number;
  burst: number;
}

/** Whether one more action is allowed at `now`, and the bucket after it (a full one for a new key). */
export function take(bucket: Bucket | undefined, rate: Rate, now: number): { allowed: boolean; bucket: Bucket } {
  const tokens = bucket === undefined ? rate.burst : Math.min(rate.burst, bucket.tokens + (Math.max(0, now - bucket.at) * rate.perSecond) / 1000);
  return tokens >= 1 ? { allowed: true, bucket: { tokens: tokens - 1, at: now } } : { allowed: false, bucket: { tokens, at: now } };
}
