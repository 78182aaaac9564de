import { canonicalJson } from '../canonical.ts';

/**
 * Verifying chat completions by re-running them. Decoding is reproducible (greedy, or sampled from
 * the request's seed), so a completion re-run on a route of other agents must give every stage's
 * outputs bit for bit (the agents report one runtime fingerprint; CPU inference is bit-exact). A
 * sampled share of completions (`chatVerifyBps`, a market parameter) is re-run that way before it
 * is settled. Each stage's output at each step is digested; the first step at which the runs differ,
 * and the first stage of that step that differs, is the one in dispute: every earlier step agreed
 * (so the tokens fed back are the same) and the earlier stages of that step agreed, so both holders
 * of that stage were given the same inputs. A third holder of that stage, given those inputs, breaks
 * the tie. The holder in the minority is
 * at fault: if it served the buyer, the buyer pays nothing for the completion; either way it is
 * taken out of routing.
 */

/**
 * Where two runs first differ: digests by stage, then step; the earliest step, and within it the
 * earliest stage. Null when they agree everywhere.
 */
export function firstDifference(served: readonly (readonly string[])[], check: readonly (readonly string[])[]): { stage: number; step: number } | null {
  const steps = Math.max(0, ...served.map((s) => s.length), ...check.map((s) => s.length));
  for (let step = 0; step < steps; step++) {
    for (let stage = 0; stage < Math.max(served.length, check.length); stage++) if (served[stage]?.[step] !== check[stage]?.[step]) return { stage, step };
  }
  return null;
}

/** Which run's holder of the disputed stage is at fault, given the tie-breaker's digest of it (null: none could be had). */
export function atFault(served: string, check: string, tieBreaker: string | null): 'served' | 'check' | 'undecided' {
  if (tieBreaker === served && tieBreaker !== check) return 'check';
  if (tieBreaker === check && tieBreaker !== served) return 'served';
  return 'undecided';
}

/** Whether a completion is re-run: `draw` is uniform in [0, 1). */
export function sampledForCheck(draw: number, verifyBps: number): boolean {
  return draw * 10_000 < verifyBps;
}

/**
 * Whether a completion of `positions` (prompt and max_tokens) is re-run: sampled, and its recorded
 * stage inputs (for a tie-breaker: every stage's hidden state at every position) fit in the bound.
 */
export function checkedCompletion(draw: number, verifyBps: number, o: { positions: number; embed: number; stages: number }, maxBytes: number): boolean {
  return sampledForCheck(draw, verifyBps) && o.positions * o.embed * 4 * o.stages <= maxBytes;
}

/** A holder found at fault by a verification: which stage and step, and the three digests that decided it. */
export interface ChatFault {
  manifest: string;
  stage: number;
  step: number;
  agentKey: string;
  provider: string;
  /** Which run it was in: the completion served, or its re-run. */
  side: 'served' | 'check';
  served: string;
  check: string;
  tieBreaker: string;
}

/**
 * The evidence of a chat holder's slash, as the texts whose SHA-256 digests the proposal carries:
 * the receipt (the cut, stage and step, the holder, the digest it gave) and the verdict it lost
 * (both runs' digests and the tie-breaker's). Digests only: no prompt, no activation.
 */
export function chatSlashEvidence(f: ChatFault): { receipt: string; digests: string } {
  return {
    receipt: canonicalJson({ manifest: f.manifest, stage: f.stage, step: f.step, agentKey: f.agentKey, provider: f.provider, digest: f[f.side] }),
    digests: canonicalJson({ manifest: f.manifest, stage: f.stage, step: f.step, served: f.served, check: f.check, tieBreaker: f.tieBreaker }),
  };
}
