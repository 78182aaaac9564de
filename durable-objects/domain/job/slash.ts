import { canonicalJson } from '../canonical.ts';
import type { CreatedJob } from './state.ts';

/*
 * The evidence of a job's slash: the rest of the slash's rules are domain/slash.ts's.
 */

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
