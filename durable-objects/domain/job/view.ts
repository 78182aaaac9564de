import type { Amount } from '../money.ts';
import type { JobParams } from '../params.ts';
import { cancelBlocker, challengeCost } from './decide.ts';
import type { Payout, RefundReason } from './events.ts';
import type { JobState, ReplicaState, SlashState, TimelineEntry } from './state.ts';
import { failureInWords, type FailureKind } from './failure.ts';

/** A job as the API and the portal show it. */
export interface JobView {
  jobId: string;
  status: Exclude<JobState['status'], 'none'>;
  buyer: string;
  units: number;
  maxPrice: Amount;
  replicaCount: number;
  holdId: string;
  /** The parameters the job runs under (its market's when it was created: lease, challenge window, fee…). */
  params: JobParams;
  replicas: {
    replica: number;
    role: ReplicaState['role'];
    status: ReplicaState['status'];
    provider: string | null;
    askId: string | null;
    price: Amount;
    lease: { leaseId: string; expiresAt: number } | null;
    digest: string | null;
    rematches: number;
  }[];
  challengeUntil: number | null;
  challenged: boolean;
  /** What a challenge would hold now (the re-run at the original price); null when none can be raised. */
  challengeCost: Amount | null;
  /** Whether the buyer may cancel now (before any result). */
  cancellable: boolean;
  payouts: Payout[];
  fee: Amount;
  refundReason: RefundReason | null;
  /** Why a failed job failed: the agents' report, and the reason in words. */
  failure: { kind: FailureKind; message: string; reason: string } | null;
  /** The slash of each rejected replica's provider and how it stands (pending until the verifier acts on chain). */
  slashes: ({ replica: number } & SlashState)[];
  timeline: TimelineEntry[];
}

/** Pure view of a job; null before it exists. */
export function jobView(state: JobState): JobView | null {
  if (state.status === 'none') return null;
  return {
    jobId: state.jobId,
    status: state.status,
    buyer: state.buyer,
    units: state.units,
    maxPrice: state.maxPrice,
    replicaCount: state.replicaCount,
    holdId: state.holdId,
    params: state.params,
    replicas: state.replicas.map((r) => ({
      replica: r.replica,
      role: r.role,
      status: r.status,
      provider: r.provider,
      askId: r.askId,
      price: r.price,
      lease: r.lease ? { leaseId: r.lease.leaseId, expiresAt: r.lease.expiresAt } : null,
      digest: r.result?.outputDigest ?? null,
      rematches: r.rematches,
    })),
    challengeUntil: state.status === 'challengeable' ? state.challengeUntil : null,
    challenged: state.challenge !== null,
    challengeCost: challengeCost(state),
    cancellable: cancelBlocker(state) === null,
    payouts: state.status === 'settled' || state.status === 'failed' ? state.payouts : [],
    fee: state.status === 'settled' || state.status === 'failed' ? state.fee : 0n,
    refundReason: state.status === 'refunded' ? state.reason : null,
    failure: state.status === 'failed' ? { kind: state.failure.kind, message: state.failure.message, reason: failureInWords(state.failure) } : null,
    slashes: Object.entries(state.slashes ?? {}).map(([replica, s]) => ({ replica: Number(replica), ...s })),
    timeline: state.timeline,
  };
}

/** When the job's alarm must next fire (a lease or unstarted assignment lapsing, the challenge window closing); null when nothing is due. */
export function nextDeadline(state: JobState): number | null {
  if (state.status === 'challengeable') return state.challengeUntil;
  if (state.status !== 'active') return null;
  let next: number | null = null;
  for (const r of state.replicas) {
    const at = r.status === 'leased' ? (r.lease?.expiresAt ?? null) : r.status === 'assigned' ? r.startBy : null;
    if (at !== null && (next === null || at < next)) next = at;
  }
  return next;
}

/**
 * The replica whose outputs the buyer may fetch: a paid one once the job is settled, or the single
 * replica while its challenge window is open; null otherwise.
 */
export function servableReplica(state: JobState): { replica: number; digest: string } | null {
  if (state.status !== 'settled' && state.status !== 'challengeable') return null;
  const wanted = state.status === 'settled' ? 'paid' : 'submitted';
  const r = state.replicas.find((x) => x.status === wanted && x.result);
  return r?.result ? { replica: r.replica, digest: r.result.outputDigest } : null;
}

/** Job payloads (the replicas' results) are kept this long after the job ends, unless the buyer fetched them first. */
export const PAYLOAD_TTL_MS = 24 * 3600_000;

/** When a closed job's stored results must be deleted; null while it runs. */
export function payloadsExpireAt(state: JobState): number | null {
  if (state.status !== 'settled' && state.status !== 'failed' && state.status !== 'refunded') return null;
  return (state.timeline[state.timeline.length - 1]?.at ?? 0) + PAYLOAD_TTL_MS;
}
