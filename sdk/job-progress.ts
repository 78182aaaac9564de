import type { JobView } from './client.ts';
import { doug, time } from './format.ts';

/**
 * Where a job stands, from its view (GET /v1/jobs/:id), as `doug bid --wait` shows it: one short
 * line per phase. The phases: placed (no job yet: the bid waits for a match), matched (providers
 * chosen, not started), running, re-matching (a replica is looking for another provider),
 * verifying (every replica's result is in), and the ends: settled, verified (one replica, its
 * challenge window open: the result can be fetched), failed (with the reason), refunded.
 */
export type JobPhase = 'placed' | 'matched' | 'running' | 're-matching' | 'verifying' | 'verified' | 'settled' | 'failed' | 'refunded';

export interface JobProgress {
  phase: JobPhase;
  /** The phase and what it is waiting for, in words. */
  text: string;
  /** Nothing more will change that the buyer waits for. */
  done: boolean;
  /** The job's result can be fetched (settled, or a single replica's inside its challenge window). */
  resultReady: boolean;
}

/** Replica statuses of a running job that still count towards its result. */
const LIVE = new Set(['assigned', 'leased', 'submitted', 'lapsed', 'awaiting-match']);

/** The job's progress; `job` null while the bid has not been matched (the job does not exist yet). */
export function jobProgress(job: JobView | null): JobProgress {
  if (job === null) return { phase: 'placed', text: 'placed: waiting for a match', done: false, resultReady: false };
  const replicas = Array.isArray(job.replicas) ? job.replicas : [];
  switch (job.status) {
    case 'settled': {
      const payouts = Array.isArray(job.payouts) ? (job.payouts as { gross?: unknown }[]) : [];
      const paid = payouts.reduce((sum, p) => sum + (typeof p.gross === 'string' && /^[0-9]+$/.test(p.gross) ? BigInt(p.gross) : 0n), 0n);
      return { phase: 'settled', text: `settled: ${payouts.length} replica${payouts.length === 1 ? '' : 's'} paid, ${doug(paid)} DOUG in all`, done: true, resultReady: true };
    }
    case 'challengeable':
      return { phase: 'verified', text: `verified: one replica's result, yours to challenge until ${time(job.challengeUntil)}`, done: true, resultReady: true };
    case 'failed': {
      const failure = job.failure as { reason?: unknown; kind?: unknown } | null | undefined;
      const reason = typeof failure?.reason === 'string' ? failure.reason : typeof failure?.kind === 'string' ? failure.kind : 'no reason given';
      return { phase: 'failed', text: `failed: ${reason}`, done: true, resultReady: false };
    }
    case 'refunded':
      return { phase: 'refunded', text: `refunded (${typeof job.refundReason === 'string' ? job.refundReason : 'no reason given'}): the escrow went back to your balance`, done: true, resultReady: false };
  }
  const live = replicas.filter((r) => LIVE.has(String(r.status)));
  const count = (...statuses: string[]) => live.filter((r) => statuses.includes(String(r.status))).length;
  const n = live.length;
  const submitted = count('submitted');
  const searching = count('lapsed', 'awaiting-match');
  if (n > 0 && submitted === n) return { phase: 'verifying', text: `verifying: ${n} result${n === 1 ? '' : 's'} in, comparing`, done: false, resultReady: false };
  if (searching > 0) return { phase: 're-matching', text: `re-matching: ${searching} of ${n} replica${n === 1 ? '' : 's'} looking for another provider (${submitted} done)`, done: false, resultReady: false };
  if (count('leased') + submitted > 0) return { phase: 'running', text: `running: ${submitted} of ${n} replica${n === 1 ? '' : 's'} done`, done: false, resultReady: false };
  return { phase: 'matched', text: `matched: ${n} provider${n === 1 ? '' : 's'}, starting`, done: false, resultReady: false };
}
