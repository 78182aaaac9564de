/** A provider's record, from the job events the read model counts: paid replicas, lapsed leases, rejected results. */
export interface ProviderRecord {
  completed: number;
  lapsed: number;
  rejected: number;
}

/** What each kind of outcome weighs in a provider's reputation: a failure costs five successes. */
export const REPUTATION_WEIGHTS: Readonly<ProviderRecord> = { completed: 1, lapsed: -5, rejected: -5 };

/** A provider's reputation score: the weighted sum of its record (offers sort by it, best first). */
export function reputationScore(r: ProviderRecord): number {
  return r.completed * REPUTATION_WEIGHTS.completed + r.lapsed * REPUTATION_WEIGHTS.lapsed + r.rejected * REPUTATION_WEIGHTS.rejected;
}

/** The same score as a SQL expression over columns named like the record's fields (for sorting in the read model). */
export function reputationScoreSql(column: (field: keyof ProviderRecord) => string): string {
  return (Object.keys(REPUTATION_WEIGHTS) as (keyof ProviderRecord)[]).map((f) => `(${REPUTATION_WEIGHTS[f]}) * ${column(f)}`).join(' + ');
}
