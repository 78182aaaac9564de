import type { Amount } from '../money.ts';
import { isFailureSignature } from './failure.ts';

/** An output tensor, as the shell reads it from the agents' uploads. */
export interface NamedTensor {
  name: string;
  dtype: string;
  dims: number[];
  data: number[];
}

/**
 * Whether two outputs agree: same tensor names, dtypes and dims, and every element within
 * `tolerance` (max absolute difference). A null tolerance means bit-exact only.
 */
export function withinTolerance(a: NamedTensor[], b: NamedTensor[], tolerance: number | null): boolean {
  if (a.length !== b.length) return false;
  const byName = new Map<string, NamedTensor>();
  for (const t of b) {
    if (byName.has(t.name)) return false;
    byName.set(t.name, t);
  }
  const seen = new Set<string>();
  for (const x of a) {
    const y = byName.get(x.name);
    if (!y || seen.has(x.name)) return false;
    seen.add(x.name);
    if (x.dtype !== y.dtype || x.dims.length !== y.dims.length || x.dims.some((d, i) => d !== y.dims[i])) return false;
    if (x.data.length !== y.data.length) return false;
    for (let i = 0; i < x.data.length; i++) {
      const u = x.data[i]!;
      const v = y.data[i]!;
      if (Object.is(u, v)) continue;
      if (tolerance === null || !(Math.abs(u - v) <= tolerance)) return false;
    }
  }
  return true;
}

/** One replica's submitted result, as verification sees it. */
export interface ReplicaResult {
  replica: number;
  price: Amount;
  outputDigest: string;
  fingerprint: string;
  /** From the shell: whether this result agrees (within tolerance) with each earlier one, by replica. */
  agreement: Record<number, boolean> | null;
}

/**
 * Whether two results agree; `later` was submitted after `earlier`. Same runtime fingerprint (or
 * no tolerance): bit-exact by digest. Different fingerprints: equal digests, or the shell's
 * tolerance verdict carried on the later result. A failed run (job/failure.ts) agrees only with a
 * failure of the same kind and message, whatever the tolerance or a verdict claims.
 */
export function resultsAgree(earlier: ReplicaResult, later: ReplicaResult, tolerance: number | null): boolean {
  if (earlier.outputDigest === later.outputDigest) return true;
  if (isFailureSignature(earlier.outputDigest) || isFailureSignature(later.outputDigest)) return false;
  if (tolerance === null || earlier.fingerprint === later.fingerprint) return false;
  return later.agreement?.[earlier.replica] === true;
}

export type Verdict =
  /** Some replicas are still working. */
  | { kind: 'pending' }
  /** Every result agrees with every other. */
  | { kind: 'unanimous'; replicas: number[] }
  /** A strict majority agrees: they are paid, the others are not. */
  | { kind: 'majority'; winners: number[]; losers: number[] }
  /** No majority yet, but one more result could make one. */
  | { kind: 'tie-breaker'; ceiling: Amount }
  /** No majority can be reached within maxResults. */
  | { kind: 'no-majority' };

export interface VerifyInput {
  /** Results in submission order. */
  results: ReplicaResult[];
  /** Replicas of the job still without a result. */
  outstanding: number;
  /** Most results a job may gather (replicas plus tie-breakers). */
  maxResults: number;
  tolerance: number | null;
}

/**
 * Decides a multi-replica job once every replica has a result. The winners are the largest set of
 * pairwise-agreeing results (first in submission order on ties); a strict majority of all results
 * is needed. Otherwise one tie-breaker at a time, priced at most the lowest price among the
 * results, while a majority is still reachable within maxResults.
 */
export function verifyReplicas(input: VerifyInput): Verdict {
  const { results, tolerance } = input;
  const n = results.length;
  if (input.outstanding > 0 || n === 0) return { kind: 'pending' };
  const agree: boolean[][] = results.map((a, i) => results.map((b, j) => i === j || (i < j ? resultsAgree(a, b, tolerance) : resultsAgree(b, a, tolerance))));
  let best: number[] = [];
  for (let mask = 1; mask < 1 << n; mask++) {
    const members: number[] = [];
    for (let i = 0; i < n; i++) if (mask & (1 << i)) members.push(i);
    if (members.length < best.length) continue;
    if (!members.every((i) => members.every((j) => agree[i]![j]))) continue;
    if (members.length > best.length || lexLess(members, best)) best = members;
  }
  const replicasOf = (idx: number[]) => idx.map((i) => results[i]!.replica).sort((a, b) => a - b);
  if (best.length === n) return { kind: 'unanimous', replicas: replicasOf(best) };
  if (2 * best.length > n) {
    return { kind: 'majority', winners: replicasOf(best), losers: replicasOf(results.map((_, i) => i).filter((i) => !best.includes(i))) };
  }
  // Each extra result can grow the largest agreeing set by one: x more results make a majority iff x > n - 2g.
  const needed = n - 2 * best.length + 1;
  if (n + needed > input.maxResults) return { kind: 'no-majority' };
  const ceiling = results.reduce((min, r) => (r.price < min ? r.price : min), results[0]!.price);
  return { kind: 'tie-breaker', ceiling };
}

function lexLess(a: number[], b: number[]): boolean {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return a.length < b.length;
}

/** Most results a job of `replicas` replicas may gather: tie-breakers stop at 2R - 1 (see the budget note in decide.ts). */
export const maxResultsFor = (replicas: number): number => Math.max(1, 2 * replicas - 1);
