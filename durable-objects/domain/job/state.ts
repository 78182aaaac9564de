import type { CommandMeta } from '../decider.ts';
import type { Amount } from '../money.ts';
import type { JobParams, JobSpec, SlashOutcome } from './commands.ts';
import type { Requirement } from '../market/commands.ts';
import type { JobEvent, Payout, RefundReason } from './events.ts';
import { failureSignature, type RunFailure } from './failure.ts';

export interface ReplicaResultRecord {
  leaseId: string;
  outputDigest: string;
  outputBytes: number;
  fingerprint: string;
  agreement: Record<number, boolean> | null;
  /** Set when the answer was a failed run (outputDigest is then its failureSignature). */
  failure?: RunFailure;
}

/** One replica of a job: its current provider, lease and result. */
export interface ReplicaState {
  replica: number;
  role: 'primary' | 'tie-breaker' | 'challenge';
  /**
   * assigned: a provider must start a lease by startBy · leased: running · submitted: result in ·
   * lapsed: lease lapsed, decision pending · awaiting-match: a bid is in the market ·
   * paid / rejected: final after verification.
   */
  status: 'assigned' | 'leased' | 'submitted' | 'lapsed' | 'awaiting-match' | 'paid' | 'rejected';
  askId: string | null;
  provider: string | null;
  /** The fill's price per unit; while awaiting a match, the bid's ceiling. */
  price: Amount;
  startBy: number | null;
  lease: { leaseId: string; agentKey: string; expiresAt: number } | null;
  rematches: number;
  result: ReplicaResultRecord | null;
  /** Whether the market slot of askId is still taken by this job. */
  slotHeld: boolean;
}

export interface LeaseRecord {
  replica: number;
  provider: string;
  status: 'active' | 'expired' | 'completed';
}

export interface TimelineEntry {
  at: number;
  event: JobEvent['type'];
  replica?: number;
}

/** Fields every created job has. */
export interface JobData {
  jobId: string;
  buyer: string;
  units: number;
  maxPrice: Amount;
  /** Replicas the buyer asked for (tie-breakers and challenge re-runs come on top). */
  replicaCount: number;
  requirements: Requirement[];
  spec: JobSpec;
  holdId: string;
  params: JobParams;
  replicas: ReplicaState[];
  /** Every provider that held or holds a replica of this job, in order of arrival. */
  providers: string[];
  leases: Record<string, LeaseRecord>;
  /** Replica indices in the order their results arrived. */
  resultOrder: number[];
  challenge: { holdId: string; amount: Amount; by: string } | null;
  timeline: TimelineEntry[];
  /**
   * The slash of each rejected replica's provider, by replica: pending from the rejection until the
   * slash driver records a step (absent from jobs created before slashing existed).
   */
  slashes?: Record<number, SlashState>;
}

/** Where the slash of one rejected replica's provider stands. */
export interface SlashState {
  provider: string;
  outcome: 'pending' | SlashOutcome;
  proposal: number | null;
  amount: Amount | null;
  executableAt: number | null;
  reason: string | null;
}

export type JobState =
  | { status: 'none' }
  | (JobData & { status: 'active' })
  | (JobData & { status: 'challengeable'; challengeUntil: number })
  | (JobData & { status: 'settled'; payouts: Payout[]; fee: Amount })
  | (JobData & { status: 'failed'; payouts: Payout[]; fee: Amount; failure: RunFailure })
  | (JobData & { status: 'refunded'; reason: RefundReason });

export type CreatedJob = Exclude<JobState, { status: 'none' }>;

export const initialState = (): JobState => ({ status: 'none' });

/** Folds one event into the state (in place where the status stays). */
export function evolve(state: JobState, event: JobEvent, meta: CommandMeta): JobState {
  if (event.type === 'JobCreated') {
    if (state.status !== 'none') return state;
    return {
      status: 'active',
      jobId: event.jobId,
      buyer: event.buyer,
      units: event.units,
      maxPrice: event.maxPrice,
      replicaCount: event.replicas,
      requirements: event.requirements,
      spec: event.spec,
      holdId: event.holdId,
      params: event.params,
      replicas: [...event.fills]
        .sort((a, b) => a.replica - b.replica)
        .map((f) => ({
          replica: f.replica,
          role: 'primary',
          status: 'assigned',
          askId: f.askId,
          provider: f.provider,
          price: f.price,
          startBy: event.startBy,
          lease: null,
          rematches: 0,
          result: null,
          slotHeld: true,
        })),
      providers: event.fills.map((f) => f.provider),
      leases: {},
      resultOrder: [],
      challenge: null,
      timeline: [{ at: meta.now, event: event.type }],
    };
  }
  if (state.status === 'none') return state;
  const job = state;
  const replicaOf = (index: number) => job.replicas[index];
  const entry: TimelineEntry = { at: meta.now, event: event.type };
  if ('replica' in event) entry.replica = event.replica;
  job.timeline.push(entry);

  switch (event.type) {
    case 'LeaseGranted': {
      const r = replicaOf(event.replica);
      if (!r) return job;
      r.status = 'leased';
      r.startBy = null;
      r.lease = { leaseId: event.leaseId, agentKey: event.agentKey, expiresAt: event.expiresAt };
      job.leases[event.leaseId] = { replica: event.replica, provider: event.provider, status: 'active' };
      return job;
    }
    case 'LeaseRenewed': {
      const r = replicaOf(event.replica);
      if (r?.lease?.leaseId === event.leaseId) r.lease.expiresAt = event.expiresAt;
      return job;
    }
    case 'LeaseExpired': {
      const r = replicaOf(event.replica);
      if (!r) return job;
      if (event.leaseId !== null) {
        const lease = job.leases[event.leaseId];
        if (lease) lease.status = 'expired';
      }
      r.status = 'lapsed';
      r.askId = null;
      r.provider = null;
      r.lease = null;
      r.startBy = null;
      r.slotHeld = false;
      return job;
    }
    case 'ReplicaRematchRequested': {
      const r = replicaOf(event.replica);
      if (!r) return job;
      r.status = 'awaiting-match';
      r.price = event.ceiling;
      r.rematches = event.attempt;
      return job;
    }
    case 'TieBreakerRequested':
    case 'ChallengeRaised': {
      job.replicas[event.replica] = {
        replica: event.replica,
        role: event.type === 'ChallengeRaised' ? 'challenge' : 'tie-breaker',
        status: 'awaiting-match',
        askId: null,
        provider: null,
        price: event.ceiling,
        startBy: null,
        lease: null,
        rematches: 0,
        result: null,
        slotHeld: false,
      };
      if (event.type === 'ChallengeRaised') {
        job.challenge = { holdId: event.holdId, amount: event.amount, by: event.by };
        const { challengeUntil: _closed, ...rest } = job as JobData & { status: 'challengeable'; challengeUntil: number };
        return { ...rest, status: 'active' };
      }
      return job;
    }
    case 'ReplicaReassigned': {
      const r = replicaOf(event.replica);
      if (!r) return job;
      r.status = 'assigned';
      r.askId = event.askId;
      r.provider = event.provider;
      r.price = event.price;
      r.startBy = event.startBy;
      r.slotHeld = true;
      if (!job.providers.includes(event.provider)) job.providers.push(event.provider);
      return job;
    }
    case 'ReplicaMatchDeclined':
      return job;
    case 'ResultSubmitted': {
      const { leaseId, outputDigest, outputBytes, fingerprint, agreement } = event;
      return recordAnswer(job, event.replica, { leaseId, outputDigest, outputBytes, fingerprint, agreement });
    }
    case 'RunFailed':
      // A failed run is the replica's answer too (failure.ts), under its signature.
      return recordAnswer(job, event.replica, { leaseId: event.leaseId, outputDigest: failureSignature(event.failure), outputBytes: 0, fingerprint: '', agreement: null, failure: event.failure });
    case 'ResultVerified':
      return job;
    case 'ReplicaRejected': {
      const r = replicaOf(event.replica);
      if (r) r.status = 'rejected';
      job.slashes = { ...job.slashes, [event.replica]: { provider: event.provider, outcome: 'pending', proposal: null, amount: null, executableAt: null, reason: null } };
      return job;
    }
    case 'SlashRecorded': {
      const { type: _type, replica, ...slash } = event;
      job.slashes = { ...job.slashes, [replica]: slash };
      return job;
    }
    case 'ChallengeWindowOpened':
      return { ...job, status: 'challengeable', challengeUntil: event.until };
    case 'JobSettled': {
      for (const p of event.payouts) {
        const r = replicaOf(p.replica);
        if (r) r.status = 'paid';
      }
      const data = closeJob(job);
      return { ...data, status: 'settled', payouts: event.payouts, fee: event.fee };
    }
    case 'JobFailed': {
      for (const p of event.payouts) {
        const r = replicaOf(p.replica);
        if (r) r.status = 'paid';
      }
      const data = closeJob(job);
      return { ...data, status: 'failed', payouts: event.payouts, fee: event.fee, failure: event.failure };
    }
    case 'JobRefunded': {
      const data = closeJob(job);
      return { ...data, status: 'refunded', reason: event.reason };
    }
  }
}

/** A replica's answer (a result or a failed run): its lease completes, its slot goes back, it joins the results in order. */
function recordAnswer(job: CreatedJob, replica: number, result: ReplicaResultRecord): CreatedJob {
  const r = job.replicas[replica];
  if (!r) return job;
  r.status = 'submitted';
  r.lease = null;
  r.slotHeld = false;
  r.result = result;
  const lease = job.leases[result.leaseId];
  if (lease) lease.status = 'completed';
  job.resultOrder.push(replica);
  return job;
}

/** Drops the live parts (leases, slots, status-specific fields) of a job that ends. */
function closeJob(job: CreatedJob): JobData {
  for (const r of job.replicas) {
    r.slotHeld = false;
    r.lease = null;
    r.startBy = null;
  }
  for (const lease of Object.values(job.leases)) if (lease.status === 'active') lease.status = 'expired';
  const { status: _s, ...rest } = job as JobData & { status: string };
  const data = rest as JobData & Record<string, unknown>;
  delete data.challengeUntil;
  return data;
}

/** Plain, deterministic snapshot (a deep copy; JSON-safe apart from bigints). */
export function snapshot(state: JobState): unknown {
  return structuredClone(state);
}

/** Inverse of snapshot. */
export function restore(data: unknown): JobState {
  return structuredClone(data) as JobState;
}
