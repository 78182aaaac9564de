import { canonicalJson } from '../canonical.ts';
import { bps, type Amount } from '../money.ts';
import { SLASH_BPS } from '../params.ts';
import type { CreatedJob } from './state.ts';

/*
 * The slash of a provider proven wrong by verification (a replica rejected against a tie-breaker
 * or a lost challenge): what the verifier proposes on chain, and the evidence it names.
 */

/** Base units to propose of a position of `positionAmount`: SLASH_BPS of it, within governance's per-event bound. */
export const slashAmount = (positionAmount: Amount, maxSlashBpsPerEvent: number): Amount => bps(positionAmount, Math.min(SLASH_BPS, maxSlashBpsPerEvent));

/**
 * What the verifier proposes against a provider proven wrong: slashAmount of its largest position
 * still holding tokens (an unstaking one too: it stays slashable until withdrawn), or why nothing.
 */
export function slashPlan<P extends { amount: Amount }>(provider: string, positions: readonly P[], maxSlashBpsPerEvent: number): { position: P; amount: Amount } | { skipped: string } {
  const largest = positions.filter((p) => p.amount > 0n).reduce<P | null>((best, p) => (best === null || p.amount > best.amount ? p : best), null);
  if (!largest) return { skipped: `${provider} has no stake to slash` };
  const amount = slashAmount(largest.amount, maxSlashBpsPerEvent);
  if (amount === 0n) return { skipped: `${provider}'s stake is too small for a slash within the bound of ${maxSlashBpsPerEvent} bps per event` };
  return { position: largest, amount };
}

/**
 * The evidence of a rejected replica, as the texts whose SHA-256 digests the proposal carries: the
 * job receipt (job, replica, provider, the digest it answered) and every replica's answer (the
 * verdict it lost). Null when the replica was not rejected.
 */
export function slashEvidence(job: CreatedJob, replica: number): { receipt: string; digests: string } | null {
  const r = job.replicas[replica];
  if (!r || r.status !== 'rejected' || !r.provider) return null;
  return {
    receipt: canonicalJson({ jobId: job.jobId, replica, provider: r.provider, digest: r.result?.outputDigest ?? null }),
    digests: canonicalJson({ jobId: job.jobId, replicas: job.replicas.filter((x) => x.result).map((x) => ({ replica: x.replica, provider: x.provider, digest: x.result!.outputDigest })) }),
  };
}
