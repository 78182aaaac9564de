import type { JobState } from './state.ts';

/**
 * The earlier replicas a new result must be compared with by value (docs/architecture.md, "A bid's way", step 5): those
 * whose runtime fingerprint differs and whose digest differs, when the job declares a tolerance.
 * Same fingerprint or no tolerance: digests alone decide, so nothing needs loading.
 */
export function replicasToCompare(state: JobState, result: { fingerprint: string; outputDigest: string }): number[] {
  if (state.status === 'none' || state.spec.tolerance === null) return [];
  return state.resultOrder.filter((i) => {
    const earlier = state.replicas[i]?.result;
    return earlier !== undefined && earlier !== null && earlier.fingerprint !== result.fingerprint && earlier.outputDigest !== result.outputDigest;
  });
}
